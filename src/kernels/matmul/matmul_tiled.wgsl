// Matrix multiply C = op(A) · op(B), tiled through workgroup memory.
// The variant for real GPUs: a workgroup stages 64×16 of A and 16×64 of B in shared memory,
// so each global element is loaded once per tile instead of once per output.
//
// Layout: exactly as in matmul_reg.wgsl. op(A) is M×K, op(B) is K×N, C is M×N, all row-major at
// element offsets from `p`; TRANS_A means A is stored K×M, TRANS_B means B is stored N×K.
//
// Indexing. Workgroup (wx, wy) owns the 64×64 block of C at rows 64*wy.., columns 64*wx...
// Its 16×16 invocations each own 16 outputs: local (lx, ly) computes rows ly + 16*i and
// columns lx + 16*j for i, j in 0..3 (strided, so neighbouring lanes read neighbouring shared
// words). K is walked in tiles of 16. Invocation t = ly*16 + lx loads elements t, t+256, t+512,
// t+768 of each tile; the element-to-(row, k) mapping follows the stored order (k fastest for
// plain A, row fastest for TRANS_A; column fastest for plain B, k fastest for TRANS_B) so that
// consecutive invocations read consecutive global addresses. Out-of-range elements load as 0,
// which adds exactly +0 to the sums: each C element is the k = 0..K-1 sum in order, as in the
// register variant. With p.accumulate = 1, C += result. The epilogue (bias, ReLU, mask; binding
// 4 is the register variant's sampler, unused here) follows the sum as in matmul_reg.wgsl.
// Shared layout: as_[kk*64 + i] holds op(A)(row0 + i, k0 + kk); bs_[kk*64 + j] holds
// op(B)(k0 + kk, col0 + j).
// Replicas: workgroup z is the replica r, which uses A, B and C at r * p.rs.x, .y and .z
// elements past replica 0 (see Replicas in src/kernels/launch.rs), its bias and mask at
// r * p.rs_bias and r * p.rs_mask.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    off_a: u32,
    off_b: u32,
    off_c: u32,
    accumulate: u32,
    _pad: u32,
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

// The epilogue (as in matmul_reg.wgsl): after the sum (and C's old value), add the bias, take
// the ReLU, zero where the mask is not positive, each as the separate kernel would.
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

var<workgroup> as_: array<f32, 1024>;
var<workgroup> bs_: array<f32, 1024>;

fn load_a(base: u32, row: u32, k: u32) -> f32 {
    if row >= p.m || k >= p.k {
        return 0.0;
    }
    return a[base + select(row * p.k + k, k * p.m + row, TRANS_A)];
}

fn load_b(base: u32, k: u32, col: u32) -> f32 {
    if k >= p.k || col >= p.n {
        return 0.0;
    }
    return b[base + select(k * p.n + col, col * p.k + k, TRANS_B)];
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wid.y * 64u;
    let col0 = wid.x * 64u;
    let t = lid.y * 16u + lid.x;
    // Where this replica's A, B and C start.
    let start = vec3<u32>(p.off_a, p.off_b, p.off_c) + wid.z * p.rs.xyz;
    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    for (var k0 = 0u; k0 < p.k; k0 += 16u) {
        for (var l = 0u; l < 4u; l++) {
            let e = t + l * 256u;
            let ai = select(e / 16u, e % 64u, TRANS_A);
            let ak = select(e % 16u, e / 64u, TRANS_A);
            as_[ak * 64u + ai] = load_a(start.x, row0 + ai, k0 + ak);
            let bj = select(e % 64u, e / 16u, TRANS_B);
            let bk = select(e / 64u, e % 16u, TRANS_B);
            bs_[bk * 64u + bj] = load_b(start.y, k0 + bk, col0 + bj);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < 16u; kk++) {
            let base = kk * 64u;
            let av = vec4<f32>(as_[base + lid.y], as_[base + lid.y + 16u], as_[base + lid.y + 32u], as_[base + lid.y + 48u]);
            let bv = vec4<f32>(bs_[base + lid.x], bs_[base + lid.x + 16u], bs_[base + lid.x + 32u], bs_[base + lid.x + 48u]);
            acc[0] += av.x * bv;
            acc[1] += av.y * bv;
            acc[2] += av.z * bv;
            acc[3] += av.w * bv;
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + lid.y + 16u * i;
        if row < p.m {
            for (var j = 0u; j < 4u; j++) {
                let col = col0 + lid.x + 16u * j;
                if col < p.n {
                    let at = start.z + row * p.n + col;
                    c[at] = finish(wid.z, at, row, col, acc[i][j]);
                }
            }
        }
    }
}
