// Matrix multiply C = op(A) · op(B), register-blocked, no workgroup memory.
// The variant for CPU rasterisers such as llvmpipe, where barriers are expensive and each
// invocation is one SIMD lane: many independent FMAs per load pay off, shared tiles do not.
//
// Layout. Every matrix is row-major f32 inside a flat storage buffer, starting at the element
// offset given in `p`. op(A) is M×K, op(B) is K×N and C is M×N.
//   A: with TRANS_A it is stored K×M, element (i,k) at k*M + i; else M×K, at i*K + k.
//   B: with TRANS_B it is stored N×K, element (k,j) at j*K + k; else K×N, at k*N + j.
//   C: element (i,j) at i*N + j.
// So an element of A is base_i + k*sa, where base_i depends only on the row and sa is 1 or M;
// likewise B is base_j + k*sb. The k loop just adds the strides.
//
// Indexing. Global invocation (gx, gy) owns the 4×4 block of C with rows 4*gy .. 4*gy+3 and
// columns 4*gx .. 4*gx+3; a workgroup of 8×8 invocations covers a 32×32 block. Rows and
// columns past the edge are clamped for loading, so every load is in bounds with no branch in
// the k loop, and are skipped when storing. Each C element is the sum over k = 0..K-1 in order,
// the same order as the tiled variant. With ACCUMULATE (p.accumulate = 1) C += result.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    off_a: u32,
    off_b: u32,
    off_c: u32,
    accumulate: u32,
    _pad: u32,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * 4u;
    let col0 = gid.x * 4u;
    if row0 >= p.m || col0 >= p.n {
        return;
    }
    let rows = min(vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m - 1u));
    let cols = min(vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    var ia = vec4<u32>(p.off_a) + select(rows * p.k, rows, TRANS_A);
    var ib = vec4<u32>(p.off_b) + select(cols, cols * p.k, TRANS_B);
    let sa = select(1u, p.m, TRANS_A);
    let sb = select(p.n, 1u, TRANS_B);

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k = 0u; k < p.k; k++) {
        let av = vec4<f32>(a[ia.x], a[ia.y], a[ia.z], a[ia.w]);
        let bv = vec4<f32>(b[ib.x], b[ib.y], b[ib.z], b[ib.w]);
        acc0 += av.x * bv;
        acc1 += av.y * bv;
        acc2 += av.z * bv;
        acc3 += av.w * bv;
        ia += vec4<u32>(sa);
        ib += vec4<u32>(sb);
    }
    store_row(row0, col0, acc0);
    store_row(row0 + 1u, col0, acc1);
    store_row(row0 + 2u, col0, acc2);
    store_row(row0 + 3u, col0, acc3);
}

fn store_row(row: u32, col0: u32, v: vec4<f32>) {
    if row >= p.m {
        return;
    }
    let base = p.off_c + row * p.n + col0;
    for (var j = 0u; j < 4u; j++) {
        if col0 + j < p.n {
            if p.accumulate != 0u {
                c[base + j] += v[j];
            } else {
                c[base + j] = v[j];
            }
        }
    }
}
