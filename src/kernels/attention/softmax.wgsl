// Softmax over each row of a [rows, n] row-major buffer, in place, and its backward: the
// attention probabilities over keys (rows = batch * heads * queries, n = keys).
// softmax_rows:     x[r, j] <- exp(x[r, j] - max_j x[r, j]) / Σ_j exp(x[r, j] - max_j x[r, j]).
//                   With a key mask (mask_stride > 0), row r belongs to example
//                   b = r / per_example, and key j takes part only where
//                   mask[mask_at + b * mask_stride + j] != 0: the max and the sum run over the
//                   kept keys, and the others' probabilities are 0 (BERT's padding).
// softmax_backward: with p the forward's output (binding 1) and g the gradient with respect to
//                   p (binding 2, overwritten): g[r, j] <- p[r, j] * (g[r, j] - Σ_j p[r, j] g[r, j]),
//                   the gradient with respect to the softmax's input.
// Indexing: one 64-invocation workgroup per row, r = wid.x + wid.y * nwg.x (the 2-D grid of
// grid_1d in src/kernels/launch.rs). Invocation t takes columns t, t+64, ... in order and the
// workgroup combines its 64 partial results in a fixed tree (strides 32, 16, ..., 1), so
// results repeat bit for bit. Replicas: grid z is the replica r, which uses binding i at
// r * p.rs[i-1] elements past replica 0 (see Replicas in src/kernels/launch.rs).

struct Params {
    rows: u32,
    n: u32,
    per_example: u32,
    mask_at: u32,
    mask_stride: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;

var<workgroup> red: array<f32, 64>;

// The workgroup's maximum (when take_max) or sum of v, the same in every invocation.
fn combine(t: u32, v: f32, take_max: bool) -> f32 {
    red[t] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if t < s {
            red[t] = select(red[t] + red[t + s], max(red[t], red[t + s]), take_max);
        }
        workgroupBarrier();
    }
    let out = red[0];
    workgroupBarrier();
    return out;
}

@compute @workgroup_size(64)
fn softmax_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) t: u32) {
    let r = wid.x + wid.y * nwg.x;
    // Whole workgroups leave together, so the barriers stay uniform.
    if r >= p.rows {
        return;
    }
    let o = wid.z * p.rs.x + r * p.n;
    let mo = wid.z * p.rs.z + p.mask_at + (r / p.per_example) * p.mask_stride;
    let masked = p.mask_stride > 0u;
    // The lowest finite f32, as bits: browsers refuse the literal -3.4028235e38, which lies
    // just past it.
    var m = bitcast<f32>(0xff7fffffu);
    for (var j = t; j < p.n; j += 64u) {
        if !masked || mask[mo + j] != 0.0 {
            m = max(m, x[o + j]);
        }
    }
    m = combine(t, m, true);
    var s = 0.0;
    for (var j = t; j < p.n; j += 64u) {
        let e = select(exp(x[o + j] - m), 0.0, masked && mask[mo + j] == 0.0);
        x[o + j] = e;
        s += e;
    }
    let inv = 1.0 / combine(t, s, false);
    for (var j = t; j < p.n; j += 64u) {
        x[o + j] *= inv;
    }
}

@compute @workgroup_size(64)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) t: u32) {
    let r = wid.x + wid.y * nwg.x;
    if r >= p.rows {
        return;
    }
    let po = wid.z * p.rs.x + r * p.n;
    let go = wid.z * p.rs.y + r * p.n;
    var s = 0.0;
    for (var j = t; j < p.n; j += 64u) {
        s += x[po + j] * g[go + j];
    }
    s = combine(t, s, false);
    for (var j = t; j < p.n; j += 64u) {
        g[go + j] = x[po + j] * (g[go + j] - s);
    }
}
