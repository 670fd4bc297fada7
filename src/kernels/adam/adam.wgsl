// Adam and AdamW (torch.optim.Adam and torch.optim.AdamW, amsgrad off) on a flat vector,
// stepping with a mix of two gradients as the SGD kernels do (g = ca * g_a + cb * g_b; every
// optimizer but SAMPa uses ca = 1, cb = 0, and then g_b is never read), and SAMPa's look-ahead:
// where such a step would move x, with the moments read but not written.
//
// Bindings: the uniform block (0), the gradients g_a (1) and g_b (2), x (3), the first moment
// m (4, PyTorch's exp_avg), the second moment v (5, exp_avg_sq), the look-ahead point y (6),
// the partial sums of ‖x‖² sq (7) and weight decay's mask (8, one bit per element, read only
// when masked = 1: see decay.wgsl, which precedes this file).
// After: decay.wgsl
//
// Indexing: every vector is bound as vec4s (buffers are allocated in 16-byte multiples), and
// element i of x, g_a, g_b, m, v and y is the same scalar parameter: vec4 e holds elements
// 4e..4e+3. Elements past n keep their old values.
// - The look-ahead runs one invocation per vec4: e is rebuilt from a 2-D grid of 256-wide
//   workgroups (see grid_1d in src/kernels/launch.rs) as (wid.x + wid.y * nwg.x) * 256 + lid,
//   and invocations with 4e >= n return.
// - The step runs the grid of the norm's first stage (src/kernels/norm/prelude.wgsl), as the
//   SGD step does: G = nwg.x workgroups of 256, G = min(ceil(n / 1024), 64) set by the host.
//   Invocation k = wid.x * 256 + lid updates vec4s e = k, k + 256G, k + 512G, ... in order and
//   adds the squares of the new x's elements (zero past n) into one sum, written to sq[k]: the
//   values the norm's first stage would compute from the new x, which the divergence watch
//   adds up.
//
// Per element, step t (counted from 1; the host folds the bias corrections into
// step_size = lr / (1 - b1^t) and bc2_sqrt = sqrt(1 - b2^t), as PyTorch does):
//   g = ca * g_a + cb * g_b
//   g = g + wd * x                 Adam (coupled weight decay, decoupled = 0; wd = 0 where the
//                                  mask exempts the element, in both forms)
//   x = x * (1 - lr * wd)          AdamW (decoupled = 1), before the moments' update
//   m = b1 * m + (1 - b1) * g
//   v = b2 * v + (1 - b2) * g * g
//   x = x - step_size * m / (sqrt(v) / bc2_sqrt + eps)
// The look-ahead evaluates the same with gradient g_b and the corrections of the step after
// the last one taken, writing only y; with bare = 1 it is the paper's y = x - lr * g_b.

struct Params {
    n: u32,
    decoupled: u32,
    bare: u32,
    masked: u32,
    lr: f32,
    wd: f32,
    b1: f32,
    b2: f32,
    eps: f32,
    step_size: f32,
    bc2_sqrt: f32,
    _pad2: f32,
    ca: f32,
    cb: f32,
    _pad3: vec2<f32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g_a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g_b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> sq: array<f32>;
@group(0) @binding(8) var<storage, read> decay: array<u32>;

// Which of elements base..base+3 lie before n.
fn inside(base: u32) -> vec4<bool> {
    return vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.n);
}

// The new moments and x of one vec4.
struct Moved {
    x: vec4<f32>,
    m: vec4<f32>,
    v: vec4<f32>,
}

// The weight decay of vec4 e's elements: wd, or with a mask, wd where it applies and 0 elsewhere.
fn decay_of(e: u32) -> vec4<f32> {
    if p.masked == 0u {
        return vec4<f32>(p.wd);
    }
    return masked_decay(decay[e >> 3u], e, p.wd);
}

fn adam(e: u32, g0: vec4<f32>, x0: vec4<f32>, m0: vec4<f32>, v0: vec4<f32>) -> Moved {
    var g = g0;
    var xd = x0;
    let wd = decay_of(e);
    if p.decoupled != 0u {
        xd = x0 * (1.0 - p.lr * wd);
    } else {
        g = g + wd * x0;
    }
    let m1 = p.b1 * m0 + (1.0 - p.b1) * g;
    let v1 = p.b2 * v0 + (1.0 - p.b2) * g * g;
    let denom = sqrt(v1) / p.bc2_sqrt + p.eps;
    return Moved(xd - p.step_size * m1 / denom, m1, v1);
}

@compute @workgroup_size(256)
fn adam_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let first = wid.x * 256u + lid;
    var sum = 0.0;
    for (var e = first; 4u * e < p.n; e += nwg.x * 256u) {
        var g = g_a[e];
        if p.cb != 0.0 {
            g = p.ca * g + p.cb * g_b[e];
        }
        let x0 = x[e];
        let m0 = m[e];
        let v0 = v[e];
        let s = adam(e, g, x0, m0, v0);
        let keep = inside(4u * e);
        let xn = select(x0, s.x, keep);
        x[e] = xn;
        m[e] = select(m0, s.m, keep);
        v[e] = select(v0, s.v, keep);
        let w = select(vec4<f32>(0.0), xn, keep);
        sum += dot(w, w);
    }
    sq[first] = sum;
}

@compute @workgroup_size(256)
fn lookahead(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let e = (wid.x + wid.y * nwg.x) * 256u + lid;
    if 4u * e >= p.n {
        return;
    }
    let g = g_b[e];
    let x0 = x[e];
    var point = x0 - p.lr * g;
    if p.bare == 0u {
        point = adam(e, g, x0, m[e], v[e]).x;
    }
    // Only the last, partial vec4 keeps y's elements past n.
    y[e] = select(y[e], point, inside(4u * e));
}
