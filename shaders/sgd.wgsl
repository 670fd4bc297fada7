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
// sgd_step_tex: the same step reading g1, g2, x and buf through texture copies of them (each
// vector as a 64-texel-wide rgba32float texture, vec4 e at texel (e % 64, e / 64)) and writing
// x and buf as sgd_step does. On llvmpipe every storage-buffer load is a loop over the SIMD
// lanes while a texture fetch is one gather, so this is the faster path there; it needs
// vectors allocated in whole 256-float rows for the copies.
//
// lookahead_tex: the look-ahead reading g, x and buf through texture copies (bindings 1..3,
// indexed as in sgd_step_tex) and writing y (binding 4).
//
// lookahead: SAMPa's auxiliary point y = x - lr * d, d being the direction sgd_step would take
// with gradient g (= g1 here, cb = 0), momentum buffer buf and the same hyper-parameters, but
// nothing is written except y (the official code's look-ahead; the paper's bare x - lr * g is
// the same entry with mu = wd = 0). Its own bindings (binding 1..4: g, x, buf, y; x and buf
// read-only) share numbers with sgd_step's, which no entry point uses together.
//
// sgd_step_look and sgd_step_look_tex: the step of sgd_step (binding 1..4) or sgd_step_tex
// (binding 1..6), followed by SAMPa's look-ahead for the next step, computed from what the step
// just wrote: y = x' - look_lr * d', d' being the direction with gradient g2 (SAMPa's g_n,
// which is the next step's g_y), the new x' and buf' and the look_* hyper-parameters (never a
// first step). It writes y to binding 5 (buffer entry) or 7 (texture entry). g2 is read
// even when cb = 0. Every expression is the one the separate entries evaluate on the same
// values, so the fused y equals what lookahead(_tex) would compute after the step, bit for bit.

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
    look_nesterov: u32,
    look_lr: f32,
    look_mu: f32,
    look_wd: f32,
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

// The hyper-parameters direction() needs.
struct Hyper {
    first: bool,
    nesterov: bool,
    mu: f32,
    wd: f32,
}

fn step_hyper() -> Hyper {
    return Hyper(p.first != 0u, p.nesterov != 0u, p.mu, p.wd);
}

fn look_hyper() -> Hyper {
    return Hyper(false, p.look_nesterov != 0u, p.look_mu, p.look_wd);
}

fn direction(h: Hyper, g: vec4<f32>, x: vec4<f32>, old: vec4<f32>) -> Direction {
    var d = g + h.wd * x;
    var b = d;
    if !h.first {
        b = h.mu * old + d;
    }
    if h.nesterov {
        d = d + h.mu * b;
    } else {
        d = b;
    }
    return Direction(b, d);
}

// Which of elements base..base+3 lie before n.
fn inside(base: u32) -> vec4<bool> {
    return vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.n);
}

// The vec4 index of this invocation in the 2-D grid.
fn vec_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

// The values a step wrote.
struct Stepped {
    x: vec4<f32>,
    b: vec4<f32>,
}

// Every sgd_step entry ends here: x and buf updated from the loaded values, the last, partial
// vec4 keeping its elements past n. Returns the new x and buf.
fn update(e: u32, g: vec4<f32>, x0: vec4<f32>, old: vec4<f32>) -> Stepped {
    let s = direction(step_hyper(), g, x0, old);
    let keep = inside(4u * e);
    let b = select(old, s.b, keep);
    let xn = select(x0, x0 - p.lr * s.d, keep);
    buf[e] = b;
    x[e] = xn;
    return Stepped(xn, b);
}

// The mixed gradient of sgd_step from g1 and g2.
fn mixed(g1v: vec4<f32>, g2v: vec4<f32>) -> vec4<f32> {
    var g = g1v;
    if p.cb != 0.0 {
        g = p.ca * g + p.cb * g2v;
    }
    return g;
}

// The look-ahead point after a step that left x = xn and buf = b: see sgd_step_look.
fn next_point(g: vec4<f32>, xn: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return xn - p.look_lr * direction(look_hyper(), g, xn, b).d;
}

@compute @workgroup_size(256)
fn sgd_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let e = vec_index(wid, nwg, lid);
    if 4u * e >= p.n {
        return;
    }
    var g = g1[e];
    if p.cb != 0.0 {
        g = p.ca * g + p.cb * g2[e];
    }
    update(e, g, x[e], buf[e]);
}

@group(0) @binding(5) var<storage, read_write> next_y: array<vec4<f32>>;

@compute @workgroup_size(256)
fn sgd_step_look(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let e = vec_index(wid, nwg, lid);
    if 4u * e >= p.n {
        return;
    }
    let gn = g2[e];
    let s = update(e, mixed(g1[e], gn), x[e], buf[e]);
    let v = next_point(gn, s.x, s.b);
    if 4u * e + 3u < p.n {
        next_y[e] = v;
    } else {
        next_y[e] = select(next_y[e], v, inside(4u * e));
    }
}

@group(0) @binding(1) var tex_g1: texture_2d<f32>;
@group(0) @binding(2) var tex_g2: texture_2d<f32>;
@group(0) @binding(5) var tex_x: texture_2d<f32>;
@group(0) @binding(6) var tex_buf: texture_2d<f32>;

@compute @workgroup_size(256)
fn sgd_step_tex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let e = vec_index(wid, nwg, lid);
    if 4u * e >= p.n {
        return;
    }
    let c = vec2<u32>(e % 64u, e / 64u);
    var g = textureLoad(tex_g1, c, 0);
    if p.cb != 0.0 {
        g = p.ca * g + p.cb * textureLoad(tex_g2, c, 0);
    }
    update(e, g, textureLoad(tex_x, c, 0), textureLoad(tex_buf, c, 0));
}

@group(0) @binding(7) var<storage, read_write> next_y_tex: array<vec4<f32>>;

@compute @workgroup_size(256)
fn sgd_step_look_tex(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let e = vec_index(wid, nwg, lid);
    if 4u * e >= p.n {
        return;
    }
    let c = vec2<u32>(e % 64u, e / 64u);
    let gn = textureLoad(tex_g2, c, 0);
    let s = update(e, mixed(textureLoad(tex_g1, c, 0), gn), textureLoad(tex_x, c, 0),
                   textureLoad(tex_buf, c, 0));
    let v = next_point(gn, s.x, s.b);
    // Only the last, partial vec4 reads y, as in look().
    if 4u * e + 3u < p.n {
        next_y_tex[e] = v;
    } else {
        next_y_tex[e] = select(next_y_tex[e], v, inside(4u * e));
    }
}

@group(0) @binding(1) var<storage, read> look_g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> look_x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> look_buf: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> look_y: array<vec4<f32>>;

// Both lookahead entries end here: y from the loaded g, x and buf. Only the last, partial
// vec4 reads y (to keep its elements past n): a storage load is a loop over the SIMD lanes on
// CPU rasterisers.
fn look(e: u32, g: vec4<f32>, x0: vec4<f32>, old: vec4<f32>) {
    let s = direction(step_hyper(), g, x0, old);
    let v = x0 - p.lr * s.d;
    if 4u * e + 3u < p.n {
        look_y[e] = v;
    } else {
        look_y[e] = select(look_y[e], v, inside(4u * e));
    }
}

@compute @workgroup_size(256)
fn lookahead(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let e = vec_index(wid, nwg, lid);
    if 4u * e >= p.n {
        return;
    }
    look(e, look_g[e], look_x[e], look_buf[e]);
}

@group(0) @binding(3) var tex_look_buf: texture_2d<f32>;

@compute @workgroup_size(256)
fn lookahead_tex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let e = vec_index(wid, nwg, lid);
    if 4u * e >= p.n {
        return;
    }
    let c = vec2<u32>(e % 64u, e / 64u);
    look(e, textureLoad(tex_g1, c, 0), textureLoad(tex_g2, c, 0), textureLoad(tex_look_buf, c, 0));
}
