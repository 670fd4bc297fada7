// The texture form of the perturbation (see prelude.wgsl, which precedes this file), for CPU
// rasterisers, where a storage-buffer load is a loop over the SIMD lanes and a texture fetch
// one gather: x (binding 1) and d (binding 2) are read through texture copies of the whole
// vectors (each a 64-texel-wide rgba32float texture, vec4 e at texel (e % 64, e / 64)), so
// both offsets are 0. It computes the same values as the storage form.

@group(0) @binding(1) var tex_x: texture_2d<f32>;
@group(0) @binding(2) var tex_d: texture_2d<f32>;

@compute @workgroup_size(256)
fn perturb(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        let c = vec2<u32>(e % 64u, e / 64u);
        apply(e, textureLoad(tex_x, c, 0), textureLoad(tex_d, c, 0));
    }
}
