// Max pooling over k×k windows with any stride and zero-free padding (PyTorch's
// nn.MaxPool2d(kernel_size=k, stride=s, padding=p); torchvision's ResNet stem uses 3, 2, 1),
// forward and backward, on pixel-major activations.
//
// Layout: the input is [N, H, W, C] (element ((n*H + y)*W + x)*C + c), the output
// [N, HO, WO, C] with HO = (H + 2p - k)/s + 1 (rounded down, as PyTorch without ceil_mode).
// Output (yo, xo)'s window covers input rows yo*s - p .. yo*s - p + k - 1 and the columns
// likewise; positions outside the image are padding, which PyTorch fills with -inf, so they
// never win (p ≤ k/2 keeps at least one real pixel in every window). `arg` holds, per output
// element, the winning window position ky*k + kx, the first maximum in (ky, kx) order, as
// PyTorch's scan picks it.
// pool_forward: one invocation per output element.
// pool_backward: one invocation per input element. Windows overlap when s < k, so an input
// pixel can win several; it gathers the output gradient of every window that covers it and
// names it the winner, in (yo, xo) order, so the sum has one order and no atomics are needed.
// The covering windows are yo in [ceil((y + p - k + 1)/s), (y + p)/s] within [0, HO), and the
// columns likewise.
// Linear indices come from a 2-D grid of 256-wide workgroups (see grid_1d in src/kernels/launch.rs).
// Replicas: grid z is the replica r, which uses src, dst and arg at r * p.rs.x, r * p.rs.y and
// r * p.rs.z elements past replica 0 (see Replicas in src/kernels/launch.rs).

struct Params {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
    ho: u32,
    wo: u32,
    k: u32,
    s: u32,
    pad: u32,
    rs: vec4<u32>,
}

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
    if e >= p.n * p.ho * p.wo * p.c {
        return;
    }
    let ch = e % p.c;
    let xo = (e / p.c) % p.wo;
    let yo = (e / (p.c * p.wo)) % p.ho;
    let n = e / (p.c * p.wo * p.ho);
    let o = wid.z * p.rs;
    var best = 0.0;
    var which = p.k * p.k;
    for (var ky = 0u; ky < p.k; ky++) {
        // Unsigned: a row above the image wraps to a huge value and fails the bound.
        let y = yo * p.s + ky - p.pad;
        for (var kx = 0u; kx < p.k; kx++) {
            let x = xo * p.s + kx - p.pad;
            if y < p.h && x < p.w {
                let v = src[o.x + ((n * p.h + y) * p.w + x) * p.c + ch];
                if which == p.k * p.k || v > best {
                    best = v;
                    which = ky * p.k + kx;
                }
            }
        }
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
    let r = wid.z * p.rs;
    // First covering window: ceil((y + p - k + 1)/s), 0 when that is negative.
    var y0 = 0u;
    if y + p.pad + 1u > p.k {
        y0 = (y + p.pad + 1u - p.k + p.s - 1u) / p.s;
    }
    var x0 = 0u;
    if x + p.pad + 1u > p.k {
        x0 = (x + p.pad + 1u - p.k + p.s - 1u) / p.s;
    }
    let y1 = min((y + p.pad) / p.s + 1u, p.ho);
    let x1 = min((x + p.pad) / p.s + 1u, p.wo);
    var g = 0.0;
    for (var yo = y0; yo < y1; yo++) {
        for (var xo = x0; xo < x1; xo++) {
            let o = ((n * p.ho + yo) * p.wo + xo) * p.c + ch;
            let at = (y + p.pad - yo * p.s) * p.k + x + p.pad - xo * p.s;
            if arg[r.z + o] == at {
                g += src[r.x + o];
            }
        }
    }
    dst[r.y + e] = g;
}
