// The texture form of the SGD kernels (see prelude.wgsl, which precedes this file and holds
// the arithmetic and the indexing), for CPU rasterisers, where every storage-buffer load is a
// loop over the SIMD lanes while a texture fetch is one gather. The kernels read texture
// copies of g_a (binding 6), g_b (binding 7), x (binding 8) and buf (binding 9), each vector as
// a 64-texel-wide rgba32float texture with vec4 e at texel (e % 64, e / 64), and write x, buf,
// y and the squares' partial sums through the prelude's storage bindings. The copies need
// vectors allocated in whole 256-float rows. The look-ahead's gradient is g_b, as in sgd.wgsl.
// After: decay.wgsl

@group(0) @binding(6) var tex_g_a: texture_2d<f32>;
@group(0) @binding(7) var tex_g_b: texture_2d<f32>;
@group(0) @binding(8) var tex_x: texture_2d<f32>;
@group(0) @binding(9) var tex_buf: texture_2d<f32>;

fn texel(e: u32) -> vec2<u32> {
    return vec2<u32>(e % 64u, e / 64u);
}

@compute @workgroup_size(256)
fn sgd_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let first = wid.x * 256u + lid;
    var sum = 0.0;
    for (var e = first; 4u * e < p.n; e += nwg.x * 256u) {
        let c = texel(e);
        var g = textureLoad(tex_g_a, c, 0);
        if p.cb != 0.0 {
            g = p.ca * g + p.cb * textureLoad(tex_g_b, c, 0);
        }
        let s = update(e, g, textureLoad(tex_x, c, 0), textureLoad(tex_buf, c, 0));
        sum += squares(e, s.x);
    }
    sq[first] = sum;
}

@compute @workgroup_size(256)
fn sgd_step_look(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let first = wid.x * 256u + lid;
    var sum = 0.0;
    for (var e = first; 4u * e < p.n; e += nwg.x * 256u) {
        let c = texel(e);
        let gn = textureLoad(tex_g_b, c, 0);
        let s = update(e, mixed(textureLoad(tex_g_a, c, 0), gn), textureLoad(tex_x, c, 0),
                       textureLoad(tex_buf, c, 0));
        store_y(e, next_point(e, gn, s.x, s.b));
        sum += squares(e, s.x);
    }
    sq[first] = sum;
}

@compute @workgroup_size(256)
fn lookahead(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let e = vec_index(wid, nwg, lid);
    if 4u * e >= p.n {
        return;
    }
    let c = texel(e);
    look(e, textureLoad(tex_g_b, c, 0), textureLoad(tex_x, c, 0), textureLoad(tex_buf, c, 0));
}
