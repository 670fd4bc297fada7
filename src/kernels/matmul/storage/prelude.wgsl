// What the storage-buffer matmul kernels share (tiled.wgsl and subgroup.wgsl, each compiled as
// this file followed by its own): the uniform, the bindings, the reads of A and the epilogue.
//
// Layout: op(A) is M×K, op(B) is K×N, C is M×N, at element offsets p.off_a, p.off_b, p.off_c of
// their storage buffers. A is stored row-major with leading dimension lda (M×K, or K×M with
// TRANS_A), B with ldb (K×N, or N×K with TRANS_B: the transposed-B form, a linear layer's
// `[out, in]` weight read as is). The leading dimensions let the host split a long sum into
// chunks of k that accumulate into C (tiled.rs): llvmpipe caps a shader's loops at 65535
// iterations in all, and both kernels loop k times.
// Epilogue (see Epilogue in src/kernels/matmul/epilogue.rs), applied by finish() to each element
// after its sum and after adding C's old value with p.accumulate, in this order, each the same
// operation as the separate kernel it replaces: with p.bias = 1 add bias[off_bias + col]
// (bias.wgsl), with p.relu = 1 take max(y, 0) (relu.wgsl's forward), with p.mask = 1 keep y only
// where mask[off_mask + row*n + col] > 0 (relu.wgsl's backward). Binding 4 is the register
// variant's sampler, unused here.
// Replicas: workgroup z / p.splits is the replica r, which uses A, B and C at r * p.rs.x, .y
// and .z elements past replica 0 (see Replicas in src/kernels/launch.rs), its bias and mask at
// r * p.rs_bias and r * p.rs_mask.
// Split-k (src/kernels/matmul/split.rs): with p.splits > 1, workgroup z % p.splits is the
// slice s of the sum, over k = s*p.k .. s*p.k + kn, kn = p.k except for the last slice's
// p.k_last. Its op(A) starts p.k columns (TRANS_A: p.k rows of lda) past slice 0's, its op(B)
// p.k rows further, and it writes the plain partial sum (no accumulate, no epilogue) to the
// m×n block s of the scratch C. reduce.wgsl then adds the slices in order. With p.splits = 1
// the kernels compute exactly what they did before splits existed.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    off_a: u32,
    off_b: u32,
    off_c: u32,
    accumulate: u32,
    lda: u32,
    ldb: u32,
    splits: u32,
    k_last: u32,
    _pad3: u32,
    bias: u32,
    off_bias: u32,
    relu: u32,
    mask: u32,
    off_mask: u32,
    rs_bias: u32,
    rs_mask: u32,
    _pad0: u32,
    rs: vec4<u32>,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read> mask: array<f32>;

// This workgroup's replica, and the length of its slice of k (set by slice_of; the kernels'
// loops that hold barriers bound themselves by slice_len instead, which the uniformity
// analysis can see is the same across the workgroup).
var<private> replica: u32;
var<private> kn: u32;

// The length of workgroup z's slice of k.
fn slice_len(z: u32) -> u32 {
    return select(p.k, p.k_last, z % p.splits + 1u == p.splits && p.splits > 1u);
}

// Where workgroup z's A, B and C start; sets `replica` and `kn`.
fn slice_of(z: u32) -> vec3<u32> {
    let s = z % p.splits;
    replica = z / p.splits;
    kn = slice_len(z);
    let step = vec3<u32>(select(p.k, p.k * p.lda, TRANS_A), select(p.k * p.ldb, p.k, TRANS_B),
                         p.m * p.n);
    return vec3<u32>(p.off_a, p.off_b, p.off_c) + replica * p.rs.xyz + s * step;
}

// The epilogue of replica r's element (row, col), at index `at` of c, whose sum is v.
fn finish(r: u32, at: u32, row: u32, col: u32, v: f32) -> f32 {
    var y = v;
    if p.accumulate != 0u {
        y = c[at] + y;
    }
    if p.bias != 0u {
        y = y + bias[p.off_bias + r * p.rs_bias + col];
    }
    if p.relu != 0u {
        y = max(y, 0.0);
    }
    if p.mask != 0u {
        y = select(0.0, y, mask[p.off_mask + r * p.rs_mask + row * p.n + col] > 0.0);
    }
    return y;
}

// op(A)(row, k) from the A that starts at element `base`, zero outside A. A zero adds an exact
// +0 to a sum that starts at +0, so loading past A's edge never changes a stored result.
fn load_a(base: u32, row: u32, k: u32) -> f32 {
    if row >= p.m || k >= kn {
        return 0.0;
    }
    return a[base + select(row * p.lda + k, k * p.lda + row, TRANS_A)];
}
