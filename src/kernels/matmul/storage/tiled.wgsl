// Matrix multiply C = op(A) · op(B), tiled through workgroup memory with register blocking.
// The variant for real GPUs: a workgroup stages a BK-deep slice of a BM×BN block's operands in
// shared memory, and each invocation keeps a TM×TN block of C in registers, so every shared
// value it reads serves TM or TN products and the inner loop reads vec4s.
//
// Compiled after prelude.wgsl, which holds the layout of A, B and C, the uniform, the bindings,
// load_a and the epilogue (finish).
//
// Tile sizes are pipeline constants (a per-adapter search picks them, see tiled.rs): BM×BN
// outputs per workgroup, K in slices of BK, TM×TN outputs per invocation (TN = 4*TN4), a
// workgroup of WX×WY = (BN/TN)×(BM/TM) invocations. The host keeps BM*BK and BN*BK at most 2048
// and TM ≤ 8, TN4 ≤ 2 (the sizes of the arrays below).
//
// Indexing. Workgroup (wx, wy) owns the block of C at rows BM*wy.., columns BN*wx... Invocation
// (lx, ly) owns rows ly*TM .. ly*TM+TM-1 and columns 4*(lx*TN4) .. 4*(lx*TN4+TN4)-1 of the
// block. Invocation t = ly*WX + lx loads elements t, t + WX*WY, ... of each operand slice; the
// element-to-(row, k) mapping follows the stored order (k fastest for plain A, row fastest for
// TRANS_A; column fastest for plain B, k fastest for TRANS_B), so consecutive invocations read
// consecutive global addresses. Out-of-range elements load as 0, which adds exactly +0 to the
// sums: each C element is the k = 0..K-1 sum in order, one term at a time, as in the register
// variant, whatever the tile sizes (they change speed, never bits). With p.accumulate = 1,
// C += result; finish() then applies the epilogue. Workgroup z is the replica (and the split-k slice, see prelude.wgsl).
// Shared layout: as_[kk*BM + i] holds op(A)(row0 + i, k0 + kk) and bs_[kk*BN + j] holds
// op(B)(k0 + kk, col0 + j); the inner loop reads them four at a time (a4, b4).
// Vec4 loads: with VEC_A (VEC_B) the host has checked that A's (B's) stored rows are whole
// vec4s (start, leading dimension and row length multiples of 4, and the tile's extent along
// them too), and the slice loads read A (B) through a second binding of the same buffer as
// vec4s, a4g (b4g): vec4 e of the slice holds four consecutive stored elements, along k for
// plain A and TRANS_B, along rows for TRANS_A and along columns for plain B, and consecutive
// invocations still read consecutive addresses. A vec4 is either wholly inside the operand or
// wholly past its edge (then zeros), and its four values land where the scalar loads put them,
// so the sums and their bits are the same either way.

override BM: u32 = 64u;
override BN: u32 = 64u;
override BK: u32 = 16u;
override TM: u32 = 4u;
override TN4: u32 = 1u;
override WX: u32 = 16u;
override WY: u32 = 16u;

override VEC_A: bool = false;
override VEC_B: bool = false;

@group(0) @binding(7) var<storage, read> a4g: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> b4g: array<vec4<f32>>;

var<workgroup> as_: array<f32, 2048>;
var<workgroup> bs_: array<f32, 2048>;

// Four consecutive shared values from `at` (a multiple of 4). Shared memory holds scalars,
// since each invocation writes single values: a store to one component of a shared vec4 may be
// a read-modify-write of the whole vector, which races with the neighbours' stores.
fn a4(at: u32) -> vec4<f32> {
    return vec4<f32>(as_[at], as_[at + 1u], as_[at + 2u], as_[at + 3u]);
}

fn b4(at: u32) -> vec4<f32> {
    return vec4<f32>(bs_[at], bs_[at + 1u], bs_[at + 2u], bs_[at + 3u]);
}

fn load_b(base: u32, k: u32, col: u32) -> f32 {
    if k >= kn || col >= p.n {
        return 0.0;
    }
    return b[base + select(k * p.ldb + col, col * p.ldb + k, TRANS_B)];
}

// A vec4 of loaded values into as_ (bs_) from `at` on, `step` apart: 1 along the slice's rows
// (columns), BM (BN) along k. Single stores, as the scalar loads make them.
fn store_a4(at: u32, step: u32, v: vec4<f32>) {
    as_[at] = v.x;
    as_[at + step] = v.y;
    as_[at + 2u * step] = v.z;
    as_[at + 3u * step] = v.w;
}

fn store_b4(at: u32, step: u32, v: vec4<f32>) {
    bs_[at] = v.x;
    bs_[at + step] = v.y;
    bs_[at + 2u * step] = v.z;
    bs_[at + 3u * step] = v.w;
}

// The slice of op(A) at rows row0.., k0.. into as_, scalar by scalar or (VEC_A) as vec4s.
fn stage_a(base: u32, row0: u32, k0: u32, t: u32) {
    let threads = WX * WY;
    if !VEC_A {
        for (var e = t; e < BM * BK; e += threads) {
            let ai = select(e / BK, e % BM, TRANS_A);
            let ak = select(e % BK, e / BM, TRANS_A);
            as_[ak * BM + ai] = load_a(base, row0 + ai, k0 + ak);
        }
        return;
    }
    for (var e = t; e < BM * BK / 4u; e += threads) {
        if TRANS_A {
            // Rows ai .. ai + 3 of one k.
            let ak = e / (BM / 4u);
            let ai = 4u * (e % (BM / 4u));
            var v = vec4<f32>(0.0);
            if row0 + ai < p.m && k0 + ak < kn {
                v = a4g[(base + (k0 + ak) * p.lda + row0 + ai) / 4u];
            }
            store_a4(ak * BM + ai, 1u, v);
        } else {
            // Ks ak .. ak + 3 of one row.
            let ai = e / (BK / 4u);
            let ak = 4u * (e % (BK / 4u));
            var v = vec4<f32>(0.0);
            if row0 + ai < p.m && k0 + ak < kn {
                v = a4g[(base + (row0 + ai) * p.lda + k0 + ak) / 4u];
            }
            store_a4(ak * BM + ai, BM, v);
        }
    }
}

// The slice of op(B) at k0.., columns col0.. into bs_, scalar by scalar or (VEC_B) as vec4s.
fn stage_b(base: u32, k0: u32, col0: u32, t: u32) {
    let threads = WX * WY;
    if !VEC_B {
        for (var e = t; e < BN * BK; e += threads) {
            let bj = select(e % BN, e / BK, TRANS_B);
            let bk = select(e / BN, e % BK, TRANS_B);
            bs_[bk * BN + bj] = load_b(base, k0 + bk, col0 + bj);
        }
        return;
    }
    for (var e = t; e < BN * BK / 4u; e += threads) {
        if TRANS_B {
            // Ks bk .. bk + 3 of one column.
            let bj = e / (BK / 4u);
            let bk = 4u * (e % (BK / 4u));
            var v = vec4<f32>(0.0);
            if col0 + bj < p.n && k0 + bk < kn {
                v = b4g[(base + (col0 + bj) * p.ldb + k0 + bk) / 4u];
            }
            store_b4(bk * BN + bj, BN, v);
        } else {
            // Columns bj .. bj + 3 of one k.
            let bk = e / (BN / 4u);
            let bj = 4u * (e % (BN / 4u));
            var v = vec4<f32>(0.0);
            if col0 + bj < p.n && k0 + bk < kn {
                v = b4g[(base + (k0 + bk) * p.ldb + col0 + bj) / 4u];
            }
            store_b4(bk * BN + bj, 1u, v);
        }
    }
}

// The invocation's TM×TN block of C, row i's texels at acc[i*TN4 + j]. A private variable
// of the module rather than the function, so fma_row can add to it.
var<private> acc: array<vec4<f32>, 16>;

// Adds a * b to row i of the block. The inner block is written out with constant guards
// (TM and TN4 are pipeline constants) rather than as short loops: llvmpipe caps a loop at
// 65535 iterations over the whole dispatch, which a short loop inside a long k loop exceeds,
// and it then ran only a loop's first iteration.
fn fma_row(i: u32, a: f32, b0: vec4<f32>, b1: vec4<f32>) {
    acc[i * TN4] += a * b0;
    if TN4 > 1u {
        acc[i * TN4 + 1u] += a * b1;
    }
}

@compute @workgroup_size(WX, WY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let t = lid.y * WX + lid.x;
    // Where this replica's (and split slice's) A, B and C start.
    let start = slice_of(wid.z);
    let k_len = slice_len(wid.z);
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    for (var k0 = 0u; k0 < k_len; k0 += BK) {
        stage_a(start.x, row0, k0, t);
        stage_b(start.y, k0, col0, t);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let b0 = b4(kk * BN + 4u * (lid.x * TN4));
            var b1 = vec4<f32>(0.0);
            if TN4 > 1u {
                b1 = b4(kk * BN + 4u * (lid.x * TN4 + 1u));
            }
            // Rows lid.y*TM .. +TM-1 of the block: one vec4 of A for up to 4 rows (TM = 1, 2
            // or 4 take their part of it), two for 8.
            let first = lid.y * TM;
            let lo = a4(kk * BM + first / 4u * 4u);
            let at = first % 4u;
            fma_row(0u, lo[at], b0, b1);
            if TM > 1u {
                fma_row(1u, lo[at + 1u], b0, b1);
            }
            if TM > 2u {
                fma_row(2u, lo[at + 2u], b0, b1);
                fma_row(3u, lo[at + 3u], b0, b1);
            }
            if TM > 4u {
                let hi = a4(kk * BM + first + 4u);
                fma_row(4u, hi.x, b0, b1);
                fma_row(5u, hi.y, b0, b1);
                fma_row(6u, hi.z, b0, b1);
                fma_row(7u, hi.w, b0, b1);
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < TM; i++) {
        let row = row0 + lid.y * TM + i;
        if row < p.m {
            for (var j = 0u; j < TN4; j++) {
                for (var q = 0u; q < 4u; q++) {
                    let col = col0 + 4u * (lid.x * TN4 + j) + q;
                    if col < p.n {
                        let at = start.z + row * p.n + col;
                        c[at] = finish(replica, at, row, col, acc[i * TN4 + j][q]);
                    }
                }
            }
        }
    }
}
