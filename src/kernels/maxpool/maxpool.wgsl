// 2×2 max pooling with stride 2 on pixel-major activations, forward and backward.
//
// Layout: the input is [N, H, W, C] (element ((n*H + y)*W + x)*C + c), the output
// [N, H/2, W/2, C] with H/2 and W/2 rounded down (a last odd row or column is dropped, as in
// PyTorch). `arg` holds, per output element, which of the four window positions won
// (dy*2 + dx, the first maximum in (dy, dx) order, as PyTorch's scan picks).
// pool_forward: one invocation per output element.
// pool_backward: one invocation per input element; it passes on the output gradient when its
// window's winner is this position and it lies inside a pooled window, else writes 0. Each
// input element has at most one window, so no sums or atomics are needed.
// With the RELU constant the forward pass computes maxpool(relu(x)) in one go: max and ReLU
// commute, the first maximum is the same winner when it is positive, and when the window's
// maximum is ≤ 0 the output is 0 and `arg` is 4 (no winner), so no gradient flows back, exactly
// as through a separate ReLU whose subgradient at 0 is 0.
// Linear indices come from a 2-D grid of 256-wide workgroups (see grid_1d in src/kernels/launch.rs).
// Replicas: grid z is the replica r, which uses src, dst and arg at r * p.rs.x, r * p.rs.y and
// r * p.rs.z elements past replica 0 (see Replicas in src/kernels/launch.rs).

struct Params {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
    rs: vec4<u32>,
}

override RELU: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg: array<u32>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn pool_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    let ho = p.h / 2u;
    let wo = p.w / 2u;
    if e >= p.n * ho * wo * p.c {
        return;
    }
    let ch = e % p.c;
    let xo = (e / p.c) % wo;
    let yo = (e / (p.c * wo)) % ho;
    let n = e / (p.c * wo * ho);
    let o = wid.z * p.rs;
    var best = -3.4e38;
    var which = 0u;
    for (var q = 0u; q < 4u; q++) {
        let y = 2u * yo + q / 2u;
        let x = 2u * xo + q % 2u;
        let v = src[o.x + ((n * p.h + y) * p.w + x) * p.c + ch];
        if q == 0u || v > best {
            best = v;
            which = q;
        }
    }
    if RELU && best <= 0.0 {
        best = 0.0;
        which = 4u;
    }
    dst[o.y + e] = best;
    arg[o.z + e] = which;
}

// Here src is the output gradient and dst the input gradient.
@compute @workgroup_size(256)
fn pool_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e >= p.n * p.h * p.w * p.c {
        return;
    }
    let ch = e % p.c;
    let x = (e / p.c) % p.w;
    let y = (e / (p.c * p.w)) % p.h;
    let n = e / (p.c * p.w * p.h);
    let ho = p.h / 2u;
    let wo = p.w / 2u;
    let r = wid.z * p.rs;
    var g = 0.0;
    if y / 2u < ho && x / 2u < wo {
        let o = ((n * ho + y / 2u) * wo + x / 2u) * p.c + ch;
        if arg[r.z + o] == (y % 2u) * 2u + x % 2u {
            g = src[r.x + o];
        }
    }
    dst[r.y + e] = g;
}
