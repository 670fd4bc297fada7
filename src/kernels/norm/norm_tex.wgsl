// The texture form of the norm's first stage (see prelude.wgsl, which precedes this file), for
// CPU rasterisers, where a texture fetch is one gather and a storage load a loop over the
// lanes: the vector is read through a texture copy of it at binding 1 (a 64-texel-wide
// rgba32float texture, vec4 i at texel (i % 64, i / 64), from element 0). The final stage is
// norm.wgsl's.

@group(0) @binding(1) var tex_x: texture_2d<f32>;

@compute @workgroup_size(256)
fn sumsq_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    var s = 0.0;
    let stride = p.groups * 256u;
    let g = wid.x * 256u + t;
    for (var i = g; 4u * i < p.n; i += stride) {
        let v = masked(i, textureLoad(tex_x, vec2<u32>(i % 64u, i / 64u), 0));
        s += dot(v, v);
    }
    dst[g] = s;
}
