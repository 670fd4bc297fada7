// 2x2 average pooling with stride 2 on pixel-major activations (F.avg_pool2d(x, 2), a DenseNet
// transition's last step), bound as vec4s of channels. The input is [N, H, W, C], vec4
// ((n*H + y)*W + x)*c4 + q holding channels 4q..4q+3 (c4 = C/4); the output is
// [N, H/2, W/2, C] alike, H/2 and W/2 rounded down (a last odd row or column is dropped, as in
// PyTorch).
// window_forward: one invocation per output quad e = ((n*ho + oy)*wo + ox)*c4 + q adds its
//   window's four quads in (dy, dx) order and divides by 4 (src = x, dst = y).
// window_backward: one invocation per input quad writes a quarter of its window's output
//   gradient, or 0 in a dropped row or column (src = dy, dst = dx). Windows do not overlap, so
//   every input quad has at most one.
// Linear indices come from a 2-D grid of 256-wide workgroups (see grid_1d in src/kernels/launch.rs).
// Replicas: grid z is the replica r, which uses src and dst at r * p.rs.x and r * p.rs.y
// elements past replica 0 (multiples of 4, so rs / 4 in vec4s).

struct Params {
    n: u32,
    h: u32,
    w: u32,
    c4: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn window_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    let ho = p.h / 2u;
    let wo = p.w / 2u;
    if e >= p.n * ho * wo * p.c4 {
        return;
    }
    let o = wid.z * p.rs / 4u;
    let q = e % p.c4;
    let pix = e / p.c4;
    let ox = pix % wo;
    let oy = (pix / wo) % ho;
    let n = pix / (wo * ho);
    let top = ((n * p.h + 2u * oy) * p.w + 2u * ox) * p.c4 + q;
    let bottom = top + p.w * p.c4;
    let s = src[o.x + top] + src[o.x + top + p.c4] + src[o.x + bottom]
        + src[o.x + bottom + p.c4];
    dst[o.y + e] = s * 0.25;
}

@compute @workgroup_size(256)
fn window_backward(@builtin(workgroup_id) wid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * p.h * p.w * p.c4 {
        return;
    }
    let o = wid.z * p.rs / 4u;
    let ho = p.h / 2u;
    let wo = p.w / 2u;
    let q = e % p.c4;
    let pix = e / p.c4;
    let x = pix % p.w;
    let y = (pix / p.w) % p.h;
    let n = pix / (p.w * p.h);
    var d = vec4<f32>(0.0);
    if x / 2u < wo && y / 2u < ho {
        d = src[o.x + ((n * ho + y / 2u) * wo + x / 2u) * p.c4 + q] * 0.25;
    }
    dst[o.y + e] = d;
}
