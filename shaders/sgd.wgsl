// SGD with momentum, weight decay and optional Nesterov, PyTorch semantics, on a flat vector,
// stepping with a mix of two gradients (SAMPa's g = (1 - λ) g_p + λ g_n; every other optimizer
// uses ca = 1, cb = 0, and then g2 is never read, so λ = 0 is exact).
// One invocation per four parameters: the buffers are bound as vec4s (they are allocated in
// 16-byte multiples): on llvmpipe a quarter of the invocations and workgroups made the update
// 23% faster (10.5 to 8.1 ms for 269k parameters), their fixed cost being significant. The
// vec4 index e is rebuilt from a 2-D grid of 256-wide workgroups (see grid_1d in
// src/kernels/mod.rs); elements 4e..4e+3 past n keep their old values. x (parameters), g1, g2
// (gradients) and buf (momentum) share one layout, element i of each being the same scalar
// parameter. Per element:
//   g   = ca * g1 + cb * g2
//   d   = g + wd * x
//   buf = d                      on the first step (p.first = 1)
//   buf = mu * buf + d           afterwards (dampening 0)
//   d   = d + mu * buf           with Nesterov, else d = buf
//   x   = x - lr * d
// With mu = 0 the buffer is still written, so the state stays well defined.
// The hyper-parameters live in a uniform buffer the optimizer rewrites each step (the learning
// rate follows a schedule), so the prepared dispatch never changes.
//
// lookahead: SAMPa's auxiliary point y = x - lr * d, d being the direction sgd_step would take
// with gradient g (= g1 here, cb = 0), momentum buffer buf and the same hyper-parameters, but
// nothing is written except y (the official code's look-ahead; the paper's bare x - lr * g is
// the same entry with mu = wd = 0). Its own bindings (binding 1..4: g, x, buf, y; x and buf
// read-only) share numbers with sgd_step's, which no entry point uses together.

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
@group(0) @binding(1) var<storage, read> g1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g2: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> buf: array<vec4<f32>>;

struct Direction {
    // The new momentum buffer and the step direction, per element.
    b: vec4<f32>,
    d: vec4<f32>,
}

fn direction(g: vec4<f32>, x: vec4<f32>, old: vec4<f32>) -> Direction {
    var d = g + p.wd * x;
    var b = d;
    if p.first == 0u {
        b = p.mu * old + d;
    }
    if p.nesterov != 0u {
        d = d + p.mu * b;
    } else {
        d = b;
    }
    return Direction(b, d);
}

// Which of elements base..base+3 lie before n.
fn inside(base: u32) -> vec4<bool> {
    return vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.n);
}

@compute @workgroup_size(256)
fn sgd_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    let base = e * 4u;
    if base >= p.n {
        return;
    }
    var g = g1[e];
    if p.cb != 0.0 {
        g = p.ca * g + p.cb * g2[e];
    }
    let x0 = x[e];
    let old = buf[e];
    let s = direction(g, x0, old);
    // The last, partial vec4 keeps its elements past n.
    let keep = inside(base);
    buf[e] = select(old, s.b, keep);
    x[e] = select(x0, x0 - p.lr * s.d, keep);
}

@group(0) @binding(1) var<storage, read> look_g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> look_x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> look_buf: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> look_y: array<vec4<f32>>;

@compute @workgroup_size(256)
fn lookahead(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    let base = e * 4u;
    if base >= p.n {
        return;
    }
    let x0 = look_x[e];
    let s = direction(look_g[e], x0, look_buf[e]);
    look_y[e] = select(look_y[e], x0 - p.lr * s.d, inside(base));
}
