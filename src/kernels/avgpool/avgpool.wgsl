// Global average pooling over pixel-major activations, bound as vec4s of channels: x is
// [n, hw, c] (hw pixels per example, quads c4 = c/4) and y is [n, c], one feature vector per
// example, which is also the pixel-major layout of a 1x1 image.
//
// avgpool_forward: one invocation per output quad e = n*c4 + q sums the example's hw pixels of
//   quad q in pixel order (src = x, dst = y) and divides by hw.
// avgpool_backward: one invocation per input quad e = (n*hw + i)*c4 + q writes dy[n*c4 + q]/hw
//   (src = dy, dst = dx): every pixel had the same share in the mean.
// Indices come from a 2-D grid of 256-wide workgroups (see grid_1d in src/kernels/launch.rs).
// Replicas: grid z is the replica r, which uses binding i at r * rs[i-1] elements past replica
// 0; the strides are multiples of 4, so in vec4 units they are rs / 4.

struct Params {
    n: u32,
    hw: u32,
    c4: u32,
    _pad: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn avgpool_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * p.c4 {
        return;
    }
    let o = wid.z * p.rs / 4u;
    let q = e % p.c4;
    let n = e / p.c4;
    var s = vec4<f32>(0.0);
    for (var i = 0u; i < p.hw; i++) {
        s += src[o.x + (n * p.hw + i) * p.c4 + q];
    }
    dst[o.y + e] = s / f32(p.hw);
}

@compute @workgroup_size(256)
fn avgpool_backward(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * p.hw * p.c4 {
        return;
    }
    let o = wid.z * p.rs / 4u;
    let q = e % p.c4;
    let n = e / (p.hw * p.c4);
    dst[o.y + e] = src[o.x + n * p.c4 + q] / f32(p.hw);
}
