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

// The vec4 index of this invocation in the 2-D grid.
fn vec_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

// Both sgd_step entries end here: x and buf updated from the loaded values, the last, partial
// vec4 keeping its elements past n.
fn update(e: u32, g: vec4<f32>, x0: vec4<f32>, old: vec4<f32>) {
    let s = direction(g, x0, old);
    let keep = inside(4u * e);
    buf[e] = select(old, s.b, keep);
    x[e] = select(x0, x0 - p.lr * s.d, keep);
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

@group(0) @binding(1) var<storage, read> look_g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> look_x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> look_buf: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> look_y: array<vec4<f32>>;

// Both lookahead entries end here: y from the loaded g, x and buf. Only the last, partial
// vec4 reads y (to keep its elements past n): a storage load is a loop over the SIMD lanes on
// CPU rasterisers.
fn look(e: u32, g: vec4<f32>, x0: vec4<f32>, old: vec4<f32>) {
    let s = direction(g, x0, old);
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
