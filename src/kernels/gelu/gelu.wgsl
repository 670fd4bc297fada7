// GELU, the exact form PyTorch's nn.GELU() computes: y = x * Phi(x) with the standard normal
// CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 (erf_f32 from erf.wgsl, prepended), elementwise over
// the first n elements of whole buffers.
// gelu_forward:  y[e] = x[e] * Phi(x[e]).
// gelu_backward: dx[e] = dy[e] * (Phi(x[e]) + x[e] * phi(x[e])), phi(x) = exp(-x^2/2)/sqrt(2 pi)
// the normal density; it reads the forward's input x, which the layer keeps.
// Indexing as relu.wgsl: one invocation per four elements, buffers bound as vec4s (allocated in
// 16-byte multiples); the vec4 index e is rebuilt from a 2-D grid of 256-wide workgroups (see
// grid_1d in src/kernels/launch.rs); invocations past n return, and elements 4e..4e+3 past n
// keep their old values.
// Replicas: grid z is the replica r, which uses binding i at r * rs[i-1] elements past replica 0
// (see Replicas in src/kernels/launch.rs); the strides are multiples of 4, so in vec4 units
// they are rs / 4.

struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

// Which of elements 4e..4e+3 lie before n.
fn inside(e: u32) -> vec4<bool> {
    return vec4<u32>(4u * e) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.n);
}

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
