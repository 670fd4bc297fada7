// The storage form of the perturbation (see prelude.wgsl, which precedes this file and holds
// the arithmetic and the indexing): x at binding 1 and d at binding 2, read from storage
// buffers as vec4s from element offsets p.off_x and p.off_d (multiples of 4), so vec4 e of
// each is at index offset / 4 + e.

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> d: array<vec4<f32>>;

@compute @workgroup_size(256)
fn perturb(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        apply(e, x[p.off_x / 4u + e], d[p.off_d / 4u + e]);
    }
}
