// SGD with momentum, weight decay and optional Nesterov, PyTorch semantics, on a flat vector,
// stepping with a mix of two gradients (SAMPa's g = (1 - λ) g_a + λ g_b; every other optimizer
// uses ca = 1, cb = 0, and then g_b is never read by the plain step, so λ = 0 is exact), and
// SAMPa's look-ahead: where such a step would move x.
//
// This prelude is shared by the two forms of the kernels, sgd.wgsl (storage-buffer reads, for
// GPUs) and sgd_tex.wgsl (texture reads, for CPU rasterisers); each is compiled as this file
// followed by its own, after decay.wgsl. It declares what both forms bind alike: the uniform
// block (binding 0), what the kernels write, x (binding 3), the momentum buffer buf (binding
// 4), the look-ahead point y (binding 5) and the partial sums of ‖x‖² sq (binding 10), and
// weight decay's mask (binding 11, one bit per element; read only when p.masked = 1, see
// decay.wgsl). Each form adds the bindings it reads from.
// After: decay.wgsl
//
// Indexing: the vectors are bound as vec4s (buffers are allocated in 16-byte multiples): on
// llvmpipe a quarter of the invocations and workgroups made the update 23% faster, their fixed
// cost being significant. x, g_a, g_b, buf and y share one layout: element i of each is the
// same scalar parameter, and vec4 e holds elements 4e..4e+3. Elements past n keep their old
// values.
// - The look-ahead runs one invocation per vec4: e is rebuilt from a 2-D grid of 256-wide
//   workgroups (see grid_1d in src/kernels/launch.rs) as (wid.x + wid.y * nwg.x) * 256 + lid,
//   and invocations with 4e >= n return.
// - The step entries run the grid of the norm's first stage (src/kernels/norm/prelude.wgsl):
//   G = nwg.x workgroups of 256 in x, G = min(ceil(n / 1024), 64 on CPU rasterisers, 1024 on
//   GPUs) set by the host (norm::partial_groups). Invocation
//   g = wid.x * 256 + lid updates vec4s e = g, g + 256G, g + 512G, ... in order, and as it goes
//   adds the squares of the new x's elements (zero past n) into one sum, which it writes to
//   sq[g] (binding 10, 256G floats). Those are the values the norm's first stage would compute
//   from the new x, in its order, so the norm's final stage over sq gives ‖x‖² after the step
//   without reading x again: the trainer's divergence watch.
//
// Per element, the step:
//   g   = ca * g_a + cb * g_b
//   d   = g + wd * x             (wd = 0 where the mask exempts the element)
//   buf = d                      on the first step (p.first = 1)
//   buf = mu * buf + d           afterwards (dampening 0)
//   d   = d + mu * buf           with Nesterov, else d = buf
//   x   = x - lr * d
// With mu = 0 the buffer is still written, so the state stays well defined. The look-ahead is
// y = x - lr * d with d the direction the step would take with gradient g_b from the current
// buf, writing nothing but y (the official SAMPa code's look-ahead; the paper's bare
// x - lr * g is the same with mu = wd = 0). The hyper-parameters live in a uniform buffer the
// optimizer rewrites each step (the learning rate follows a schedule), so a prepared dispatch
// never changes.
//
// sgd_step_look is the step followed by the next step's look-ahead, computed from what the step
// just wrote: y = x' - look_lr * d', d' being the direction with gradient g_b (SAMPa's g_n,
// which is the next step's g_y), the new x' and buf' and the look_* hyper-parameters (never a
// first step). g_b is read even when cb = 0. Every expression is the one the separate entries
// evaluate on the same values, so its y equals what lookahead computes after the step, bit for
// bit.

struct Params {
    n: u32,
    first: u32,
    nesterov: u32,
    masked: u32,
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
@group(0) @binding(3) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> buf: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> sq: array<f32>;
@group(0) @binding(11) var<storage, read> decay: array<u32>;

struct Direction {
    // The new momentum buffer and the step direction, per element.
    b: vec4<f32>,
    d: vec4<f32>,
}

// The hyper-parameters direction() needs for one vec4, the weight decay per element.
struct Hyper {
    first: bool,
    nesterov: bool,
    mu: f32,
    wd: vec4<f32>,
}

// The weight decay of vec4 e's elements: wd, or with a mask, wd where it applies and 0 elsewhere.
fn decay_of(e: u32, wd: f32) -> vec4<f32> {
    if p.masked == 0u {
        return vec4<f32>(wd);
    }
    return masked_decay(decay[e >> 3u], e, wd);
}

fn step_hyper(e: u32) -> Hyper {
    return Hyper(p.first != 0u, p.nesterov != 0u, p.mu, decay_of(e, p.wd));
}

fn look_hyper(e: u32) -> Hyper {
    return Hyper(false, p.look_nesterov != 0u, p.look_mu, decay_of(e, p.look_wd));
}

fn direction(h: Hyper, g: vec4<f32>, x0: vec4<f32>, old: vec4<f32>) -> Direction {
    var d = g + h.wd * x0;
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

// The squares of vec4 e's elements before n, added as the norm's first stage adds them.
fn squares(e: u32, v: vec4<f32>) -> f32 {
    let w = select(vec4<f32>(0.0), v, inside(4u * e));
    return dot(w, w);
}

// The mixed gradient of the step from g_a and g_b.
fn mixed(ga: vec4<f32>, gb: vec4<f32>) -> vec4<f32> {
    var g = ga;
    if p.cb != 0.0 {
        g = p.ca * g + p.cb * gb;
    }
    return g;
}

// The values a step wrote.
struct Stepped {
    x: vec4<f32>,
    b: vec4<f32>,
}

// Every step entry ends here: x and buf updated from the loaded values, the last, partial vec4
// keeping its elements past n. Returns the new x and buf.
fn update(e: u32, g: vec4<f32>, x0: vec4<f32>, old: vec4<f32>) -> Stepped {
    let s = direction(step_hyper(e), g, x0, old);
    let keep = inside(4u * e);
    let b = select(old, s.b, keep);
    let xn = select(x0, x0 - p.lr * s.d, keep);
    buf[e] = b;
    x[e] = xn;
    return Stepped(xn, b);
}

// Write y's vec4 e. Only the last, partial vec4 reads y (to keep its elements past n): a
// storage load is a loop over the SIMD lanes on CPU rasterisers.
fn store_y(e: u32, v: vec4<f32>) {
    if 4u * e + 3u < p.n {
        y[e] = v;
    } else {
        y[e] = select(y[e], v, inside(4u * e));
    }
}

// The look-ahead point after a step that left x = xn and buf = b: see sgd_step_look.
fn next_point(e: u32, g: vec4<f32>, xn: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return xn - p.look_lr * direction(look_hyper(e), g, xn, b).d;
}

// The look-ahead from the loaded g, x and buf, with the step's own hyper-parameters.
fn look(e: u32, g: vec4<f32>, x0: vec4<f32>, old: vec4<f32>) {
    let s = direction(step_hyper(e), g, x0, old);
    store_y(e, x0 - p.lr * s.d);
}
