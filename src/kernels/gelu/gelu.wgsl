// GELU, the exact form PyTorch's nn.GELU() computes: y = x * Phi(x) with the standard normal
// CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 (erf_f32 from erf.wgsl), elementwise over the first n
// elements of whole buffers, after the prelude src/kernels/elementwise.wgsl (its indexing: one
// invocation per vec4 e, replicas on grid z).
// gelu_forward:  y[e] = x[e] * Phi(x[e]).
// gelu_backward: dx[e] = dy[e] * (Phi(x[e]) + x[e] * phi(x[e])), phi(x) = exp(-x^2/2)/sqrt(2 pi)
// the normal density; it reads the forward's input x, which the layer keeps.
// After: gelu/erf.wgsl, elementwise.wgsl

fn cdf(x: vec4<f32>) -> vec4<f32> {
    let s = x * 0.70710678118654752;
    return 0.5 * (1.0 + vec4<f32>(erf_f32(s.x), erf_f32(s.y), erf_f32(s.z), erf_f32(s.w)));
}

@compute @workgroup_size(256)
fn gelu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        let o = wid.z * p.rs / 4u;
        let d = o.y + e;
        let x = src[o.x + e];
        dst[d] = select(dst[d], x * cdf(x), inside(e));
    }
}

// Here src is dy and dst is dx; x is the forward's input.
@group(0) @binding(3) var<storage, read> x_in: array<vec4<f32>>;

@compute @workgroup_size(256)
fn gelu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if 4u * e < p.n {
        let o = wid.z * p.rs / 4u;
        let d = o.y + e;
        let x = x_in[o.z + e];
        let density = exp(-0.5 * x * x) * 0.39894228040143268;
        let v = src[o.x + e] * (cdf(x) + x * density);
        dst[d] = select(dst[d], v, inside(e));
    }
}
