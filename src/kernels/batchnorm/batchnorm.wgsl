// BatchNorm2d over pixel-major activations: x is [M, C] with M = N*H*W rows (one per pixel of
// every example) and C channels, bound as vec4s, so row r's channel quad q (channels 4q..4q+3)
// is x[r*c4 + q] with c4 = C/4. Every channel's statistics are taken over all M rows.
// Windows: x's rows may be wider than C (a dense block's concatenation, whose bottlenecks each
// normalise a suffix of its channels). Row r's quad q of x is then x[xo4 + r*xs4 + q]: xs4
// quads per row, the window starting xo4 quads in. y (the output, or dx in the backward) has
// its own window ys4, yo4 the same way; the compact case is xs4 = ys4 = c4, xo4 = yo4 = 0.
// dy, mask and everything else are always compact, indexed by the element quad e = r*c4 + q.
// With ACCUM the backward adds dx into y instead of writing it (a bottleneck's input gradient
// joins what later bottlenecks sent to the same channels).
//
// Training forward, in five launches that each finish before the next starts:
//   bn_sum    one invocation per (chunk, quad) i = ch*c4 + q sums the chunk's rows
//             ch*chunk .. min(M, (ch+1)*chunk) of quad q into part[i];
//   bn_mean   one invocation per quad sums the chunks' partials in chunk order: mean = Σ/M;
//   bn_sqdev  as bn_sum, over (x - mean)^2;
//   bn_var    var = Σ/M (the biased variance PyTorch normalises with), invstd = 1/sqrt(var+eps);
//   bn_apply  one invocation per element quad e = r*c4 + q: y = (x-mean)*invstd*γ + β, then
//             max(y, 0) when RELU is set.
// On GPUs (src/kernels/batchnorm/mod.rs, Reduce::Tree) the per-quad sums over chunks run as
// bn_mean_tree, bn_var_tree and bn_dparams_tree instead: one 256-invocation workgroup per quad
// (workgroup x = q), invocation t adding the partials of chunks t, t+256, t+512, ... in that
// order, then the workgroup adding its 256 sums pairwise in a fixed tree (strides 128, 64, ...,
// 1). Many invocations share each channel's sum rather than one looping over every chunk; the
// order is fixed, so the results repeat bit for bit, and they differ from the serial form's by
// rounding only.
// Two passes over x rather than Σx and Σx² in one: the difference of the latter loses the
// variance's digits when the mean is large. Sums run in a fixed order, so results do not
// depend on timing.
// Evaluation runs bn_apply alone on statistics the host wrote from the running ones.
//
// Backward, in three launches, with d = dy (times [mask > 0] when MASK is set: the ReLU this
// layer fused, or one after a residual add, gates the gradient) and xhat = (x-mean)*invstd:
//   bn_dsum     per (chunk, quad): part[i] = Σ d, part[chunks*c4 + i] = Σ d*xhat;
//   bn_dparams  per quad: sd = Σ d, sx = Σ d*xhat over all rows; dβ = sd, dγ = sx;
//   bn_dx       per element quad: dx = γ*invstd/M * (M*d - sd - xhat*sx).
//
// stats holds, per replica, five runs of C values: mean, invstd, var, sd, sx (quad q of run j
// at stats[j*c4 + q]). γ and β lie in the flat parameter vector at prm and prm + C (read as
// scalars: the vector's offsets need not be multiples of 4); dγ and dβ go to the gradient
// vector at the same offsets.
// Replicas: grid z is the replica r; binding b is used at r * (its stride in p.rs) elements
// past replica 0, the strides in binding order x, y, part, stats, prm, dy, mask, grads (those
// of vec4 bindings are multiples of 4 and divided by 4 here).

struct Params {
    m: u32,
    c4: u32,
    chunk: u32,
    chunks: u32,
    prm: u32,
    eps: f32,
    xs4: u32,
    xo4: u32,
    ys4: u32,
    yo4: u32,
    _pad0: u32,
    _pad1: u32,
    rs: array<vec4<u32>, 2>,
}

override RELU: bool = false;
override MASK: bool = false;
override ACCUM: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> part: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> stats: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> prm: array<f32>;
@group(0) @binding(6) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> mask: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> grads: array<f32>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * 256u + lid;
}

// Replica z's element offset for binding b (1-based), in vec4s for vec4 bindings.
fn at(z: u32, b: u32) -> u32 {
    let i = b - 1u;
    return z * p.rs[i / 4u][i % 4u];
}
fn at4(z: u32, b: u32) -> u32 {
    return at(z, b) / 4u;
}

// Row r's quad q of x, through x's window.
fn x_at(z: u32, r: u32, q: u32) -> vec4<f32> {
    return x[at4(z, 1u) + p.xo4 + r * p.xs4 + q];
}

// Where row r's quad q of y lies, through y's window.
fn y_index(z: u32, r: u32, q: u32) -> u32 {
    return at4(z, 2u) + p.yo4 + r * p.ys4 + q;
}

fn gamma(z: u32, q: u32) -> vec4<f32> {
    let o = at(z, 5u) + p.prm + 4u * q;
    return vec4<f32>(prm[o], prm[o + 1u], prm[o + 2u], prm[o + 3u]);
}

fn beta(z: u32, q: u32) -> vec4<f32> {
    let o = at(z, 5u) + p.prm + 4u * (p.c4 + q);
    return vec4<f32>(prm[o], prm[o + 1u], prm[o + 2u], prm[o + 3u]);
}

// The gated output gradient of element quad e.
fn grad_out(z: u32, e: u32) -> vec4<f32> {
    let g = dy[at4(z, 6u) + e];
    if MASK {
        return select(vec4<f32>(0.0), g, mask[at4(z, 7u) + e] > vec4<f32>(0.0));
    }
    return g;
}

// Σ over chunk ch's rows of quad q of x, or of (x - mean)^2 when `dev`.
fn chunk_sum(z: u32, ch: u32, q: u32, dev: bool) -> vec4<f32> {
    let mean = stats[at4(z, 4u) + q];
    let end = min(p.m, (ch + 1u) * p.chunk);
    var s = vec4<f32>(0.0);
    for (var r = ch * p.chunk; r < end; r++) {
        let v = x_at(z, r, q);
        if dev {
            let d = v - mean;
            s += d * d;
        } else {
            s += v;
        }
    }
    return s;
}

// Σ over every chunk's partial of quad q, in chunk order, from run `run` of part.
fn chunks_sum(z: u32, q: u32, run: u32) -> vec4<f32> {
    let base = at4(z, 3u) + run * p.chunks * p.c4;
    var s = vec4<f32>(0.0);
    for (var ch = 0u; ch < p.chunks; ch++) {
        s += part[base + ch * p.c4 + q];
    }
    return s;
}

@compute @workgroup_size(256)
fn bn_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i < p.chunks * p.c4 {
        part[at4(wid.z, 3u) + i] = chunk_sum(wid.z, i / p.c4, i % p.c4, false);
    }
}

@compute @workgroup_size(64)
fn bn_mean(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let q = gid.x;
    if q < p.c4 {
        stats[at4(wid.z, 4u) + q] = chunks_sum(wid.z, q, 0u) / f32(p.m);
    }
}

@compute @workgroup_size(256)
fn bn_sqdev(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i < p.chunks * p.c4 {
        part[at4(wid.z, 3u) + i] = chunk_sum(wid.z, i / p.c4, i % p.c4, true);
    }
}

@compute @workgroup_size(64)
fn bn_var(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let q = gid.x;
    if q < p.c4 {
        let s0 = at4(wid.z, 4u);
        let var_ = chunks_sum(wid.z, q, 0u) / f32(p.m);
        stats[s0 + p.c4 + q] = inverseSqrt(var_ + vec4<f32>(p.eps));
        stats[s0 + 2u * p.c4 + q] = var_;
    }
}

@compute @workgroup_size(256)
fn bn_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e < p.m * p.c4 {
        let z = wid.z;
        let q = e % p.c4;
        let r = e / p.c4;
        let s0 = at4(z, 4u);
        var v = (x_at(z, r, q) - stats[s0 + q]) * stats[s0 + p.c4 + q] * gamma(z, q)
            + beta(z, q);
        if RELU {
            v = max(v, vec4<f32>(0.0));
        }
        y[y_index(z, r, q)] = v;
    }
}

@compute @workgroup_size(256)
fn bn_dsum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i < p.chunks * p.c4 {
        let z = wid.z;
        let ch = i / p.c4;
        let q = i % p.c4;
        let s0 = at4(z, 4u);
        let mean = stats[s0 + q];
        let invstd = stats[s0 + p.c4 + q];
        let end = min(p.m, (ch + 1u) * p.chunk);
        var sd = vec4<f32>(0.0);
        var sx = vec4<f32>(0.0);
        for (var r = ch * p.chunk; r < end; r++) {
            let e = r * p.c4 + q;
            let d = grad_out(z, e);
            sd += d;
            sx += d * (x_at(z, r, q) - mean) * invstd;
        }
        let p0 = at4(z, 3u);
        part[p0 + i] = sd;
        part[p0 + p.chunks * p.c4 + i] = sx;
    }
}

@compute @workgroup_size(64)
fn bn_dparams(@builtin(global_invocation_id) gid: vec3<u32>,
              @builtin(workgroup_id) wid: vec3<u32>) {
    let q = gid.x;
    if q < p.c4 {
        let z = wid.z;
        store_dparams(z, q, chunks_sum(z, q, 0u), chunks_sum(z, q, 1u));
    }
}

// Quad q's Σd and Σd·xhat into stats (for bn_dx) and as dβ and dγ into grads.
fn store_dparams(z: u32, q: u32, sd: vec4<f32>, sx: vec4<f32>) {
    let s0 = at4(z, 4u);
    stats[s0 + 3u * p.c4 + q] = sd;
    stats[s0 + 4u * p.c4 + q] = sx;
    let g = at(z, 8u) + p.prm + 4u * q;
    let b = g + 4u * p.c4;
    for (var i = 0u; i < 4u; i++) {
        grads[g + i] = sx[i];
        grads[b + i] = sd[i];
    }
}

@compute @workgroup_size(256)
fn bn_dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let e = index(wid, nwg, lid);
    if e < p.m * p.c4 {
        let z = wid.z;
        let q = e % p.c4;
        let r = e / p.c4;
        let s0 = at4(z, 4u);
        let invstd = stats[s0 + p.c4 + q];
        let xhat = (x_at(z, r, q) - stats[s0 + q]) * invstd;
        let m = f32(p.m);
        let sd = stats[s0 + 3u * p.c4 + q];
        let sx = stats[s0 + 4u * p.c4 + q];
        let dx = gamma(z, q) * invstd / m * (m * grad_out(z, e) - sd - xhat * sx);
        let o = y_index(z, r, q);
        if ACCUM {
            y[o] += dx;
        } else {
            y[o] = dx;
        }
    }
}

// ---- the tree form of the per-quad sums (see the top of the file) ----

var<workgroup> tree: array<vec4<f32>, 256>;

// Σ over every chunk's partial of quad q from run `run` of part, as the tree form adds them;
// every invocation of the workgroup calls it and gets the total.
fn tree_sum(z: u32, q: u32, run: u32, t: u32) -> vec4<f32> {
    let base = at4(z, 3u) + run * p.chunks * p.c4;
    var s = vec4<f32>(0.0);
    for (var ch = t; ch < p.chunks; ch += 256u) {
        s += part[base + ch * p.c4 + q];
    }
    tree[t] = s;
    workgroupBarrier();
    for (var w = 128u; w > 0u; w >>= 1u) {
        if t < w {
            tree[t] += tree[t + w];
        }
        workgroupBarrier();
    }
    let total = tree[0];
    // A second call reuses `tree`: every invocation must have read the total first.
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(256)
fn bn_mean_tree(@builtin(workgroup_id) wid: vec3<u32>,
                @builtin(local_invocation_index) t: u32) {
    let mean = tree_sum(wid.z, wid.x, 0u, t) / f32(p.m);
    if t == 0u {
        stats[at4(wid.z, 4u) + wid.x] = mean;
    }
}

@compute @workgroup_size(256)
fn bn_var_tree(@builtin(workgroup_id) wid: vec3<u32>,
               @builtin(local_invocation_index) t: u32) {
    let var_ = tree_sum(wid.z, wid.x, 0u, t) / f32(p.m);
    if t == 0u {
        let s0 = at4(wid.z, 4u);
        stats[s0 + p.c4 + wid.x] = inverseSqrt(var_ + vec4<f32>(p.eps));
        stats[s0 + 2u * p.c4 + wid.x] = var_;
    }
}

@compute @workgroup_size(256)
fn bn_dparams_tree(@builtin(workgroup_id) wid: vec3<u32>,
                   @builtin(local_invocation_index) t: u32) {
    let z = wid.z;
    let q = wid.x;
    let sd = tree_sum(z, q, 0u, t);
    let sx = tree_sum(z, q, 1u, t);
    if t == 0u {
        store_dparams(z, q, sd, sx);
    }
}
