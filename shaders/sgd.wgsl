// SGD with momentum, weight decay and optional Nesterov, PyTorch semantics, on a flat vector,
// stepping with a mix of two gradients (SAMPa's g = (1 - λ) g_p + λ g_n; every other optimizer
// uses ca = 1, cb = 0, and then g2 is never read, so λ = 0 is exact).
// One invocation per parameter; the linear index e is rebuilt from a 2-D grid of 256-wide
// workgroups (see grid_1d in src/kernels/mod.rs). x (parameters), g1, g2 (gradients) and buf
// (momentum) share one layout, element e of each being the same scalar parameter. Per element:
//   g   = ca * g1 + cb * g2
//   d   = g + wd * x
//   buf = d                      on the first step (p.first = 1)
//   buf = mu * buf + d           afterwards (dampening 0)
//   d   = d + mu * buf           with Nesterov, else d = buf
//   x   = x - lr * d
// With mu = 0 the buffer is still written, so the state stays well defined.
// The hyper-parameters live in a uniform buffer the optimizer rewrites each step (the learning
// rate follows a schedule), so the prepared dispatch never changes.

struct Params {
    n: u32,
    first: u32,
    nesterov: u32,
    _pad: u32,
    lr: f32,
    mu: f32,
    wd: f32,
    _pad2: f32,
    ca: f32,
    cb: f32,
    _pad3: vec2<f32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g1: array<f32>;
@group(0) @binding(2) var<storage, read> g2: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> buf: array<f32>;

@compute @workgroup_size(256)
fn sgd_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    if e >= p.n {
        return;
    }
    var g = g1[e];
    if p.cb != 0.0 {
        g = p.ca * g + p.cb * g2[e];
    }
    var d = g + p.wd * x[e];
    var b = d;
    if p.first == 0u {
        b = p.mu * buf[e] + d;
    }
    buf[e] = b;
    if p.nesterov != 0u {
        d = d + p.mu * b;
    } else {
        d = b;
    }
    x[e] = x[e] - p.lr * d;
}
