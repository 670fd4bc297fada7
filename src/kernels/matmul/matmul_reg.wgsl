// Matrix multiply C = op(A) · op(B), register-blocked, operands read through textures.
// The variant for CPU rasterisers such as llvmpipe: texture reads are vectorised gathers
// there, storage-buffer loads are scalar loops over the SIMD lanes, and workgroup memory is as
// slow as storage buffers. Operands are sampled with a nearest, non-filtering sampler at texel
// centres rather than fetched with textureLoad: a nearest sample at a texel's centre returns
// that texel unchanged, and it carries no bounds check, whereas wgpu's GL backend wraps every
// textureLoad in one (naga's ReadZeroSkipWrite policy) that cost the GL adapter a third of
// its matrix-product time. llvmpipe's sampling path is faster on Vulkan too.
//
// Inputs are the packed operands written by matmul_pack.wgsl: ta holds op(A) as M rows of
// ceil(K/4) texels, tb holds op(B) as 4*ceil(K/4) rows of ceil(N/4) texels; both are zero-padded,
// so every fetch below is in range and padding adds exact zeros. A texture may be wider and
// taller than its operand (its sides are rounded up to powers of two, see power_of_two in
// src/kernels/textures.rs); those texels are never fetched, and the sampling
// coordinates below use the texture's real size. Row r of a packed operand is
// texel row r % rows_per_layer of layer r / rows_per_layer (p.layer_rows_a, p.layer_rows_b).
// C is row-major M×N at element offset p.off_c of its storage buffer.
//
// Texel (x, y) of a texture W texels wide and H tall is sampled at ((x + 0.5) / W, (y + 0.5) / H),
// computed as (x + 0.5) * (1 / W): its error is a few ulps of x + 0.5, far below the half texel
// that would change the texel chosen for any texture the device can create.
//
// Indexing: global invocation (gx, gy) owns the block of C with rows ROWS*gy .. ROWS*gy+ROWS-1
// and columns 8*gx .. 8*gx+7 (2 texels of tb), or with ROWS_X (below) rows ROWS*gx .. and
// columns 8*gy ..; a workgroup of 8×8 invocations covers 8*ROWS rows and 64 columns. ROWS is
// 16 (the `reg` form) or 8 (`reg8`). Rows past M are clamped
// when fetching and skipped when storing; columns past N come from padding and are skipped
// when storing. Each accumulator adds its products in k
// order, one term at a time, as the tiled variant does. With p.accumulate = 1, C += result.
// Replicas: global z is the replica r, whose packed A and B start at texture layers
// r * p.rs.x and r * p.rs.y and whose C starts r * p.rs.z elements past replica 0's (see
// Replicas in src/kernels/launch.rs); its bias and mask start r * p.rs_bias and
// r * p.rs_mask elements past replica 0's.
//
// Epilogue (see Epilogue in src/kernels/matmul/mod.rs), applied to each element after its sum
// (and after adding C's old value with p.accumulate), in this order, each the same operation as
// the separate kernel it replaces: with p.bias = 1 add bias[off_bias + col] (bias.wgsl), with
// p.relu = 1 take max(y, 0) (relu.wgsl's forward), with p.mask = 1 keep y only where
// mask[off_mask + row*n + col] > 0 (relu.wgsl's backward, the mask being the ReLU's output).

struct Params {
    m: u32,
    n: u32,
    k4: u32,
    off_c: u32,
    accumulate: u32,
    layer_rows_a: u32,
    layer_rows_b: u32,
    n4: u32,
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

// Rows of C per invocation, 16 or 8: a pipeline constant, so the compiler drops rows 8..15
// outright when it is 8. The 8-row form has half the live accumulators; CPU rasterisers
// compile it in under half the time (SwiftShader: about 0.45 s against 1.1 s), which is what
// the browser's start-up waits on, and run it somewhat slower.
override ROWS: u32 = 16u;
// Whether the grid's x axis runs over row blocks and y over column pairs: for products with
// fewer than 8 column pairs (n < 64), since llvmpipe fills its SIMD lanes with consecutive
// invocations along x only (see conv/implicit.wgsl). The sums are unchanged.
override ROWS_X: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var ta: texture_2d_array<f32>;
@group(0) @binding(2) var tb: texture_2d_array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var nearest: sampler;
@group(0) @binding(5) var<storage, read_write> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> mask: array<f32>;

// A row of op(A) as (texel row, layer), computed once per row outside the k loop: integer
// division has no SIMD form on CPUs.
fn place_a(r: u32, layer0: u32) -> vec2<u32> {
    return vec2<u32>(r % p.layer_rows_a, layer0 + r / p.layer_rows_a);
}

// The normalised coordinate of texel centre i along an axis with reciprocal size inv.
fn centre(i: u32, inv: f32) -> f32 {
    return (f32(i) + 0.5) * inv;
}

fn fetch_a(x: u32, at: vec2<u32>, inv: vec2<f32>) -> vec4<f32> {
    let uv = vec2<f32>(centre(x, inv.x), centre(at.x, inv.y));
    return textureSampleLevel(ta, nearest, uv, at.y, 0.0);
}

// Rows k0 .. k0+3 of op(B) share a layer because layer_rows_b is a multiple of 4; the loop
// advances (yb, lb) instead of dividing.
fn fetch_b(x: u32, yb: u32, lb: u32, inv: vec2<f32>) -> vec4<f32> {
    let uv = vec2<f32>(centre(x, inv.x), centre(yb, inv.y));
    return textureSampleLevel(tb, nearest, uv, lb, 0.0);
}

// The bias of columns col .. col+3 (zero past n or without a bias), read once per invocation:
// storage loads are slow on CPU rasterisers.
fn bias4(r: u32, col: u32) -> vec4<f32> {
    var b = vec4<f32>(0.0);
    if p.bias != 0u {
        for (var j = 0u; j < 4u; j++) {
            if col + j < p.n {
                b[j] = bias[p.off_bias + r * p.rs_bias + col + j];
            }
        }
    }
    return b;
}

fn store(c0: u32, r: u32, row: u32, col: u32, b: vec4<f32>, v: vec4<f32>) {
    if row >= p.m {
        return;
    }
    let base = c0 + row * p.n + col;
    for (var j = 0u; j < 4u; j++) {
        if col + j < p.n {
            var y = v[j];
            if p.accumulate != 0u {
                y = c[base + j] + y;
            }
            if p.bias != 0u {
                y = y + b[j];
            }
            if p.relu != 0u {
                y = max(y, 0.0);
            }
            if p.mask != 0u {
                y = select(0.0, y, mask[p.off_mask + r * p.rs_mask + row * p.n + col + j] > 0.0);
            }
            c[base + j] = y;
        }
    }
}

// The body below is unrolled by hand (16 rows × 2 texels, rows 8..15 under `ROWS > 8u`): WGSL
// has no compile-time unrolling, and llvmpipe keeps only straight-line accumulators in
// registers.
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = select(gid.y, gid.x, ROWS_X) * ROWS;
    let cb = select(gid.x, gid.y, ROWS_X) * 2u;
    if row0 >= p.m || cb >= p.n4 {
        return;
    }
    let last = p.m - 1u;
    let layer_a = gid.z * p.rs.x;
    let c0 = p.off_c + gid.z * p.rs.z;
    let r0 = place_a(min(row0 + 0u, last), layer_a);
    let r1 = place_a(min(row0 + 1u, last), layer_a);
    let r2 = place_a(min(row0 + 2u, last), layer_a);
    let r3 = place_a(min(row0 + 3u, last), layer_a);
    let r4 = place_a(min(row0 + 4u, last), layer_a);
    let r5 = place_a(min(row0 + 5u, last), layer_a);
    let r6 = place_a(min(row0 + 6u, last), layer_a);
    let r7 = place_a(min(row0 + 7u, last), layer_a);
    var r8: vec2<u32>; var r9: vec2<u32>; var r10: vec2<u32>; var r11: vec2<u32>;
    var r12: vec2<u32>; var r13: vec2<u32>; var r14: vec2<u32>; var r15: vec2<u32>;
    if ROWS > 8u {
        r8 = place_a(min(row0 + 8u, last), layer_a);
        r9 = place_a(min(row0 + 9u, last), layer_a);
        r10 = place_a(min(row0 + 10u, last), layer_a);
        r11 = place_a(min(row0 + 11u, last), layer_a);
        r12 = place_a(min(row0 + 12u, last), layer_a);
        r13 = place_a(min(row0 + 13u, last), layer_a);
        r14 = place_a(min(row0 + 14u, last), layer_a);
        r15 = place_a(min(row0 + 15u, last), layer_a);
    }
    let inv_a = 1.0 / vec2<f32>(textureDimensions(ta));
    let inv_b = 1.0 / vec2<f32>(textureDimensions(tb));
    let x0 = min(cb + 0u, p.n4 - 1u);
    let x1 = min(cb + 1u, p.n4 - 1u);
    var acc0_0 = vec4<f32>(0.0); var acc0_1 = vec4<f32>(0.0);
    var acc1_0 = vec4<f32>(0.0); var acc1_1 = vec4<f32>(0.0);
    var acc2_0 = vec4<f32>(0.0); var acc2_1 = vec4<f32>(0.0);
    var acc3_0 = vec4<f32>(0.0); var acc3_1 = vec4<f32>(0.0);
    var acc4_0 = vec4<f32>(0.0); var acc4_1 = vec4<f32>(0.0);
    var acc5_0 = vec4<f32>(0.0); var acc5_1 = vec4<f32>(0.0);
    var acc6_0 = vec4<f32>(0.0); var acc6_1 = vec4<f32>(0.0);
    var acc7_0 = vec4<f32>(0.0); var acc7_1 = vec4<f32>(0.0);
    var acc8_0 = vec4<f32>(0.0); var acc8_1 = vec4<f32>(0.0);
    var acc9_0 = vec4<f32>(0.0); var acc9_1 = vec4<f32>(0.0);
    var acc10_0 = vec4<f32>(0.0); var acc10_1 = vec4<f32>(0.0);
    var acc11_0 = vec4<f32>(0.0); var acc11_1 = vec4<f32>(0.0);
    var acc12_0 = vec4<f32>(0.0); var acc12_1 = vec4<f32>(0.0);
    var acc13_0 = vec4<f32>(0.0); var acc13_1 = vec4<f32>(0.0);
    var acc14_0 = vec4<f32>(0.0); var acc14_1 = vec4<f32>(0.0);
    var acc15_0 = vec4<f32>(0.0); var acc15_1 = vec4<f32>(0.0);
    var yb = 0u;
    var lb = gid.z * p.rs.y;
    for (var kk = 0u; kk < p.k4; kk++) {
        let b00 = fetch_b(x0, yb + 0u, lb, inv_b); let b01 = fetch_b(x0, yb + 1u, lb, inv_b); let b02 = fetch_b(x0, yb + 2u, lb, inv_b); let b03 = fetch_b(x0, yb + 3u, lb, inv_b);
        let b10 = fetch_b(x1, yb + 0u, lb, inv_b); let b11 = fetch_b(x1, yb + 1u, lb, inv_b); let b12 = fetch_b(x1, yb + 2u, lb, inv_b); let b13 = fetch_b(x1, yb + 3u, lb, inv_b);
        let a0 = fetch_a(kk, r0, inv_a);
        acc0_0 += a0.x * b00; acc0_0 += a0.y * b01; acc0_0 += a0.z * b02; acc0_0 += a0.w * b03;
        acc0_1 += a0.x * b10; acc0_1 += a0.y * b11; acc0_1 += a0.z * b12; acc0_1 += a0.w * b13;
        let a1 = fetch_a(kk, r1, inv_a);
        acc1_0 += a1.x * b00; acc1_0 += a1.y * b01; acc1_0 += a1.z * b02; acc1_0 += a1.w * b03;
        acc1_1 += a1.x * b10; acc1_1 += a1.y * b11; acc1_1 += a1.z * b12; acc1_1 += a1.w * b13;
        let a2 = fetch_a(kk, r2, inv_a);
        acc2_0 += a2.x * b00; acc2_0 += a2.y * b01; acc2_0 += a2.z * b02; acc2_0 += a2.w * b03;
        acc2_1 += a2.x * b10; acc2_1 += a2.y * b11; acc2_1 += a2.z * b12; acc2_1 += a2.w * b13;
        let a3 = fetch_a(kk, r3, inv_a);
        acc3_0 += a3.x * b00; acc3_0 += a3.y * b01; acc3_0 += a3.z * b02; acc3_0 += a3.w * b03;
        acc3_1 += a3.x * b10; acc3_1 += a3.y * b11; acc3_1 += a3.z * b12; acc3_1 += a3.w * b13;
        let a4 = fetch_a(kk, r4, inv_a);
        acc4_0 += a4.x * b00; acc4_0 += a4.y * b01; acc4_0 += a4.z * b02; acc4_0 += a4.w * b03;
        acc4_1 += a4.x * b10; acc4_1 += a4.y * b11; acc4_1 += a4.z * b12; acc4_1 += a4.w * b13;
        let a5 = fetch_a(kk, r5, inv_a);
        acc5_0 += a5.x * b00; acc5_0 += a5.y * b01; acc5_0 += a5.z * b02; acc5_0 += a5.w * b03;
        acc5_1 += a5.x * b10; acc5_1 += a5.y * b11; acc5_1 += a5.z * b12; acc5_1 += a5.w * b13;
        let a6 = fetch_a(kk, r6, inv_a);
        acc6_0 += a6.x * b00; acc6_0 += a6.y * b01; acc6_0 += a6.z * b02; acc6_0 += a6.w * b03;
        acc6_1 += a6.x * b10; acc6_1 += a6.y * b11; acc6_1 += a6.z * b12; acc6_1 += a6.w * b13;
        let a7 = fetch_a(kk, r7, inv_a);
        acc7_0 += a7.x * b00; acc7_0 += a7.y * b01; acc7_0 += a7.z * b02; acc7_0 += a7.w * b03;
        acc7_1 += a7.x * b10; acc7_1 += a7.y * b11; acc7_1 += a7.z * b12; acc7_1 += a7.w * b13;
        if ROWS > 8u {
            let a8 = fetch_a(kk, r8, inv_a);
            acc8_0 += a8.x * b00; acc8_0 += a8.y * b01; acc8_0 += a8.z * b02; acc8_0 += a8.w * b03;
            acc8_1 += a8.x * b10; acc8_1 += a8.y * b11; acc8_1 += a8.z * b12; acc8_1 += a8.w * b13;
            let a9 = fetch_a(kk, r9, inv_a);
            acc9_0 += a9.x * b00; acc9_0 += a9.y * b01; acc9_0 += a9.z * b02; acc9_0 += a9.w * b03;
            acc9_1 += a9.x * b10; acc9_1 += a9.y * b11; acc9_1 += a9.z * b12; acc9_1 += a9.w * b13;
            let a10 = fetch_a(kk, r10, inv_a);
            acc10_0 += a10.x * b00; acc10_0 += a10.y * b01; acc10_0 += a10.z * b02; acc10_0 += a10.w * b03;
            acc10_1 += a10.x * b10; acc10_1 += a10.y * b11; acc10_1 += a10.z * b12; acc10_1 += a10.w * b13;
            let a11 = fetch_a(kk, r11, inv_a);
            acc11_0 += a11.x * b00; acc11_0 += a11.y * b01; acc11_0 += a11.z * b02; acc11_0 += a11.w * b03;
            acc11_1 += a11.x * b10; acc11_1 += a11.y * b11; acc11_1 += a11.z * b12; acc11_1 += a11.w * b13;
            let a12 = fetch_a(kk, r12, inv_a);
            acc12_0 += a12.x * b00; acc12_0 += a12.y * b01; acc12_0 += a12.z * b02; acc12_0 += a12.w * b03;
            acc12_1 += a12.x * b10; acc12_1 += a12.y * b11; acc12_1 += a12.z * b12; acc12_1 += a12.w * b13;
            let a13 = fetch_a(kk, r13, inv_a);
            acc13_0 += a13.x * b00; acc13_0 += a13.y * b01; acc13_0 += a13.z * b02; acc13_0 += a13.w * b03;
            acc13_1 += a13.x * b10; acc13_1 += a13.y * b11; acc13_1 += a13.z * b12; acc13_1 += a13.w * b13;
            let a14 = fetch_a(kk, r14, inv_a);
            acc14_0 += a14.x * b00; acc14_0 += a14.y * b01; acc14_0 += a14.z * b02; acc14_0 += a14.w * b03;
            acc14_1 += a14.x * b10; acc14_1 += a14.y * b11; acc14_1 += a14.z * b12; acc14_1 += a14.w * b13;
            let a15 = fetch_a(kk, r15, inv_a);
            acc15_0 += a15.x * b00; acc15_0 += a15.y * b01; acc15_0 += a15.z * b02; acc15_0 += a15.w * b03;
            acc15_1 += a15.x * b10; acc15_1 += a15.y * b11; acc15_1 += a15.z * b12; acc15_1 += a15.w * b13;
        }
        yb += 4u;
        if yb == p.layer_rows_b {
            yb = 0u;
            lb += 1u;
        }
    }
    let bias_0 = bias4(gid.z, 4u * (cb + 0u));
    let bias_1 = bias4(gid.z, 4u * (cb + 1u));
    store(c0, gid.z, row0 + 0u, 4u * (cb + 0u), bias_0, acc0_0); store(c0, gid.z, row0 + 0u, 4u * (cb + 1u), bias_1, acc0_1);
    store(c0, gid.z, row0 + 1u, 4u * (cb + 0u), bias_0, acc1_0); store(c0, gid.z, row0 + 1u, 4u * (cb + 1u), bias_1, acc1_1);
    store(c0, gid.z, row0 + 2u, 4u * (cb + 0u), bias_0, acc2_0); store(c0, gid.z, row0 + 2u, 4u * (cb + 1u), bias_1, acc2_1);
    store(c0, gid.z, row0 + 3u, 4u * (cb + 0u), bias_0, acc3_0); store(c0, gid.z, row0 + 3u, 4u * (cb + 1u), bias_1, acc3_1);
    store(c0, gid.z, row0 + 4u, 4u * (cb + 0u), bias_0, acc4_0); store(c0, gid.z, row0 + 4u, 4u * (cb + 1u), bias_1, acc4_1);
    store(c0, gid.z, row0 + 5u, 4u * (cb + 0u), bias_0, acc5_0); store(c0, gid.z, row0 + 5u, 4u * (cb + 1u), bias_1, acc5_1);
    store(c0, gid.z, row0 + 6u, 4u * (cb + 0u), bias_0, acc6_0); store(c0, gid.z, row0 + 6u, 4u * (cb + 1u), bias_1, acc6_1);
    store(c0, gid.z, row0 + 7u, 4u * (cb + 0u), bias_0, acc7_0); store(c0, gid.z, row0 + 7u, 4u * (cb + 1u), bias_1, acc7_1);
    if ROWS > 8u {
        store(c0, gid.z, row0 + 8u, 4u * (cb + 0u), bias_0, acc8_0); store(c0, gid.z, row0 + 8u, 4u * (cb + 1u), bias_1, acc8_1);
        store(c0, gid.z, row0 + 9u, 4u * (cb + 0u), bias_0, acc9_0); store(c0, gid.z, row0 + 9u, 4u * (cb + 1u), bias_1, acc9_1);
        store(c0, gid.z, row0 + 10u, 4u * (cb + 0u), bias_0, acc10_0); store(c0, gid.z, row0 + 10u, 4u * (cb + 1u), bias_1, acc10_1);
        store(c0, gid.z, row0 + 11u, 4u * (cb + 0u), bias_0, acc11_0); store(c0, gid.z, row0 + 11u, 4u * (cb + 1u), bias_1, acc11_1);
        store(c0, gid.z, row0 + 12u, 4u * (cb + 0u), bias_0, acc12_0); store(c0, gid.z, row0 + 12u, 4u * (cb + 1u), bias_1, acc12_1);
        store(c0, gid.z, row0 + 13u, 4u * (cb + 0u), bias_0, acc13_0); store(c0, gid.z, row0 + 13u, 4u * (cb + 1u), bias_1, acc13_1);
        store(c0, gid.z, row0 + 14u, 4u * (cb + 0u), bias_0, acc14_0); store(c0, gid.z, row0 + 14u, 4u * (cb + 1u), bias_1, acc14_1);
        store(c0, gid.z, row0 + 15u, 4u * (cb + 0u), bias_0, acc15_0); store(c0, gid.z, row0 + 15u, 4u * (cb + 1u), bias_1, acc15_1);
    }
}
