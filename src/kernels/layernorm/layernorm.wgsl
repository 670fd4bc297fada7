// LayerNorm over the last dimension (PyTorch's nn.LayerNorm(C), timm's ViT with eps 1e-6):
// x and y are [rows, C] row-major, rows = every token of every example, and each row is
// normalised by its own mean and biased variance, then scaled by γ and shifted by β:
//   y[r, c] = (x[r, c] - mean_r) * rstd_r * γ[c] + β[c],  rstd_r = 1 / sqrt(var_r + eps).
// γ and β lie in the flat parameter vector at prm and prm + C (scalars: the vector's offsets
// need not be multiples of 4); dγ and dβ go to the gradient vector at the same offsets. stats
// holds mean_r at 2r and rstd_r at 2r + 1, written by the forward for the backward.
//
// ln_forward and ln_dx: one 64-invocation workgroup per row, r = wid.x + wid.y * nwg.x (the
// 2-D grid of grid_1d in src/kernels/launch.rs); invocation t takes columns t, t+64, t+128, ...
// in order and the workgroup adds its 64 partial sums in a fixed tree (strides 32, 16, ..., 1),
// so results repeat bit for bit. The forward takes the mean first and then Σ(x - mean)^2, two
// passes over the row rather than Σx and Σx^2 in one, which loses the variance's digits when
// the mean is large.
// ln_dx, with g = dy * γ and xhat = (x - mean) * rstd:
//   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)),
// written into y (the dx buffer), or added to it when p.accumulate is 1 (a residual stream's
// gradient is already there).
// dγ = Σ_r dy * xhat and dβ = Σ_r dy, in two launches:
//   ln_dparams_part  one invocation per (column c, chunk k): grid x counts 64-wide column
//                    groups, grid y the chunks; it sums rows k*chunk .. min(rows, (k+1)*chunk)
//                    in order into part[k*2C + c] (dy * xhat) and part[k*2C + C + c] (dy);
//   ln_dparams_sum   one invocation per column sums the chunks in order.
// Replicas: grid z is the replica; binding b is used at z * (its stride in p.rs) elements past
// replica 0, the strides in binding order x, y, stats, prm, dy, part, grads.

struct Params {
    rows: u32,
    c: u32,
    chunk: u32,
    chunks: u32,
    prm: u32,
    eps: f32,
    accumulate: u32,
    _pad0: u32,
    rs: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read> prm: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> part: array<f32>;
@group(0) @binding(7) var<storage, read_write> grads: array<f32>;

var<workgroup> red_a: array<f32, 64>;
var<workgroup> red_b: array<f32, 64>;

// The workgroup's sums of a and b, the same in every invocation.
fn workgroup_sums(t: u32, a: f32, b: f32) -> vec2<f32> {
    red_a[t] = a;
    red_b[t] = b;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if t < s {
            red_a[t] += red_a[t + s];
            red_b[t] += red_b[t + s];
        }
        workgroupBarrier();
    }
    let out = vec2<f32>(red_a[0], red_b[0]);
    workgroupBarrier();
    return out;
}

fn stride(b: u32) -> u32 {
    return p.rs[b / 4u][b % 4u];
}

// Where row r of replica z starts in x, y, stats, γβ (at prm) and dy.
struct Row {
    x: u32,
    y: u32,
    s: u32,
    p: u32,
    g: u32,
}

fn row_at(z: u32, r: u32) -> Row {
    return Row(z * stride(0u) + r * p.c, z * stride(1u) + r * p.c, z * stride(2u) + 2u * r,
               z * stride(3u) + p.prm, z * stride(4u) + r * p.c);
}

@compute @workgroup_size(64)
fn ln_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) t: u32) {
    let r = wid.x + wid.y * nwg.x;
    // Whole workgroups leave together, so the barriers stay uniform.
    if r >= p.rows {
        return;
    }
    let o = row_at(wid.z, r);
    var s = 0.0;
    for (var c = t; c < p.c; c += 64u) {
        s += x[o.x + c];
    }
    let mean = workgroup_sums(t, s, 0.0).x / f32(p.c);
    var q = 0.0;
    for (var c = t; c < p.c; c += 64u) {
        let d = x[o.x + c] - mean;
        q += d * d;
    }
    let rstd = inverseSqrt(workgroup_sums(t, q, 0.0).x / f32(p.c) + p.eps);
    for (var c = t; c < p.c; c += 64u) {
        y[o.y + c] = (x[o.x + c] - mean) * rstd * prm[o.p + c] + prm[o.p + p.c + c];
    }
    if t == 0u {
        stats[o.s] = mean;
        stats[o.s + 1u] = rstd;
    }
}

@compute @workgroup_size(64)
fn ln_dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) t: u32) {
    let r = wid.x + wid.y * nwg.x;
    if r >= p.rows {
        return;
    }
    let o = row_at(wid.z, r);
    let mean = stats[o.s];
    let rstd = stats[o.s + 1u];
    var sg = 0.0;
    var sgx = 0.0;
    for (var c = t; c < p.c; c += 64u) {
        let g = dy[o.g + c] * prm[o.p + c];
        sg += g;
        sgx += g * (x[o.x + c] - mean) * rstd;
    }
    let sums = workgroup_sums(t, sg, sgx) / f32(p.c);
    for (var c = t; c < p.c; c += 64u) {
        let xhat = (x[o.x + c] - mean) * rstd;
        let d = rstd * (dy[o.g + c] * prm[o.p + c] - sums.x - xhat * sums.y);
        y[o.y + c] = select(d, y[o.y + c] + d, p.accumulate != 0u);
    }
}

@compute @workgroup_size(64)
fn ln_dparams_part(@builtin(global_invocation_id) gid: vec3<u32>,
                   @builtin(workgroup_id) wid: vec3<u32>) {
    let c = gid.x;
    let k = wid.y;
    if c >= p.c {
        return;
    }
    let xo = wid.z * stride(0u);
    let so = wid.z * stride(2u);
    let go = wid.z * stride(4u);
    var sdx = 0.0;
    var sd = 0.0;
    let end = min(p.rows, (k + 1u) * p.chunk);
    for (var r = k * p.chunk; r < end; r++) {
        let d = dy[go + r * p.c + c];
        let xhat = (x[xo + r * p.c + c] - stats[so + 2u * r]) * stats[so + 2u * r + 1u];
        sdx += d * xhat;
        sd += d;
    }
    let o = wid.z * stride(5u) + k * 2u * p.c + c;
    part[o] = sdx;
    part[o + p.c] = sd;
}

@compute @workgroup_size(64)
fn ln_dparams_sum(@builtin(global_invocation_id) gid: vec3<u32>,
                  @builtin(workgroup_id) wid: vec3<u32>) {
    let c = gid.x;
    if c >= p.c {
        return;
    }
    let po = wid.z * stride(5u) + c;
    var sdx = 0.0;
    var sd = 0.0;
    for (var k = 0u; k < p.chunks; k++) {
        sdx += part[po + k * 2u * p.c];
        sd += part[po + k * 2u * p.c + p.c];
    }
    let o = wid.z * stride(6u) + p.prm + c;
    grads[o] = sdx;
    grads[o + p.c] = sd;
}
