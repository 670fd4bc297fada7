// Convolution as an implicit GEMM: C = patches(X) · Wp (+ bias), with the patches read
// straight from the activations, never written out as an im2col matrix. One kernel serves the
// forward pass and the data gradient (see the dilation below).
//
// X is an image batch in pixel-major order: pixel (n, y, x) of an h×w image has channels
// 4*c4 .. 4*c4+3 in texel t = ((n*h + y)*w + x)*cin4 + c4 of the texture tx (channels padded
// with zeros to a multiple of 4). tx is 64 texels wide: texel t lies at column t & 63, row
// (t >> 6) & img_mask of array layer t >> img_shift (img_shift = 6 + log2 of the rows per
// layer, a power of two), so no division is needed per fetch. See src/kernels/conv/image.rs.
//
// Row r of C is output pixel (n, oy, ox) of an ho×wo grid, r = (n*ho + oy)*wo + ox. Its patch
// tap (ky, kx) reads the input at iy = oy*stride + ky - pad, ix = ox*stride + kx - pad in the
// input *dilated* by d = 1 << dshift (d - 1 zeros between pixels): the tap is zero unless
// 0 <= iy < (h-1)*d + 1, likewise ix, and both are multiples of d, and then reads pixel
// (iy / d, ix / d). The forward pass has d = 1. The data gradient of a stride-s convolution
// is this kernel on dy with d = s, stride 1, pad k-1-pad and the flipped, transposed weight
// (pack_weight in stage.wgsl), so one kernel covers both.
//
// Column k of the product runs over taps in (ky, kx, channel) order: texel step q =
// (ky*k + kx)*cin4 + c4 takes four channels at once. Wp is the packed weight: texture tb holds
// 4*q .. 4*q+3 as rows and output channels in texels (4 per texel), laid out as matmul_reg.wgsl's
// B operand, rows split into layers of layer_rows_b (a multiple of 4). C is row-major m×n in
// its storage buffer, bound as vec4s (n, the offsets and the replica stride are multiples of
// 4); with p.bias = 1 each element gets bias[off_b + col] added after its sum
// (the same single rounding as a separate bias pass).
//
// Indexing: global invocation (gx, gy) owns rows ROWS*gy .. ROWS*gy+ROWS-1 and columns
// 8*gx .. 8*gx+7 (two texels of tb), or with ROWS_X rows ROWS*gx .. and columns 8*gy ..; an
// 8×8 workgroup covers 8*ROWS rows and 64 columns. Each
// row's origin (image, top-left tap) is computed once, each tap's texel once per (ky, kx) and
// each fetch adds the channel texel c4. Rows past m are clamped when fetching and skipped when
// storing; columns past n come from tb's zero padding and are skipped when storing. Each
// accumulator adds its products in k order, one term at a time. Operands are sampled at texel
// centres with a nearest sampler, as matmul_reg.wgsl explains (no bounds check on GL).
// Replicas: global z is the replica r: its image starts at layer r * p.rs.x of tx, its weight
// at layer r * p.rs.y of tb, its C r * p.rs.z elements and its bias r * p.rs.w elements past
// replica 0's (see Replicas in src/kernels/launch.rs).

struct Params {
    m: u32,
    n: u32,
    n4: u32,
    cin4: u32,
    h: u32,
    w: u32,
    ho: u32,
    wo: u32,
    k: u32,
    stride: u32,
    pad: u32,
    dshift: u32,
    layer_rows_b: u32,
    img_shift: u32,
    img_mask: u32,
    bias: u32,
    off_b: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    rs: vec4<u32>,
}

// Rows of C per invocation, 16 or 8 (the `reg` and `reg8` forms), as in matmul_reg.wgsl.
override ROWS: u32 = 16u;
// Channels of each texel that can be non-zero: 4, except for a first layer of fewer than 4
// channels (one texel a pixel, the rest of it the staging's zero padding), whose zero
// channels the kernel then neither fetches weights for nor multiplies. Their products would
// be +0 or -0, which leave every sum's bits as they are (a sum that starts at +0 never becomes
// -0 under round-to-nearest), so REAL changes speed, never results.
override REAL: u32 = 4u;
// Whether the grid's x axis runs over row blocks and y over column pairs (the other way round
// from the indexing above). llvmpipe fills its 8 SIMD lanes with consecutive invocations
// along x only, so a product with fewer than 8 column pairs (n < 64: the data gradient into a
// 32-channel layer, a 32-channel first layer) left lanes idle along x however the workgroup
// was shaped (measured: 4 column pairs ran at half the rate of 8, 1 pair at an eighth); row
// blocks along x fill them. Each element's sum is unchanged, so its bits are too.
override ROWS_X: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var tx: texture_2d_array<f32>;
@group(0) @binding(2) var tb: texture_2d_array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(4) var nearest: sampler;
@group(0) @binding(5) var<storage, read_write> bias: array<f32>;

// An output pixel's image row offset (n*h), the input position of its tap (0, 0) and, without
// dilation, that position's texel (possibly outside the image: then never fetched).
struct Origin {
    nh: u32,
    y: i32,
    x: i32,
    t0: i32,
}

// One tap of one output pixel: the texel of its channel group 0, and whether it is inside.
struct Tap {
    t: u32,
    inside: bool,
}

fn origin(r: u32) -> Origin {
    let plane = p.ho * p.wo;
    let n = r / plane;
    let rem = r % plane;
    let oy = rem / p.wo;
    let ox = rem % p.wo;
    let pad = i32(p.pad);
    let y = i32(oy * p.stride) - pad;
    let x = i32(ox * p.stride) - pad;
    let t0 = ((i32(n * p.h) + y) * i32(p.w) + x) * i32(p.cin4);
    return Origin(n * p.h, y, x, t0);
}

// Tap (ky, kx) of an output pixel; `offset` is (ky*w + kx)*cin4, the same for every pixel.
// Without dilation the tap is the origin's texel plus that offset, inside when both
// coordinates are (the unsigned comparison also rejects negative ones); with dilation it
// also has to land on the grid of real pixels.
fn tap(o: Origin, ky: i32, kx: i32, offset: i32) -> Tap {
    let iy = o.y + ky;
    let ix = o.x + kx;
    if p.dshift == 0u {
        let inside = u32(iy) < p.h && u32(ix) < p.w;
        return Tap(select(0u, u32(o.t0 + offset), inside), inside);
    }
    let d = 1u << p.dshift;
    let hd = i32((p.h - 1u) * d + 1u);
    let wd = i32((p.w - 1u) * d + 1u);
    let on_grid = ((u32(iy) | u32(ix)) & (d - 1u)) == 0u;
    let inside = iy >= 0 && ix >= 0 && iy < hd && ix < wd && on_grid;
    let y = u32(max(iy, 0)) >> p.dshift;
    let x = u32(max(ix, 0)) >> p.dshift;
    return Tap(select(0u, ((o.nh + y) * p.w + x) * p.cin4, inside), inside);
}

fn centre(i: u32, inv: f32) -> f32 {
    return (f32(i) + 0.5) * inv;
}

fn fetch_x(tp: Tap, c4: u32, layer0: u32, inv: vec2<f32>) -> vec4<f32> {
    let t = tp.t + c4;
    let uv = vec2<f32>(centre(t & 63u, inv.x), centre((t >> 6u) & p.img_mask, inv.y));
    let v = textureSampleLevel(tx, nearest, uv, layer0 + (t >> p.img_shift), 0.0);
    return select(vec4<f32>(0.0), v, tp.inside);
}

// Rows k0 .. k0+3 of Wp share a layer because layer_rows_b is a multiple of 4; the loop
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
                b[j] = bias[p.off_b + r * p.rs.w + col + j];
            }
        }
    }
    return b;
}

// acc plus a texel's channels times their rows of Wp, one term at a time in channel order; the
// channels from REAL on are zero and skipped.
fn fma4(acc: vec4<f32>, a: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>,
        b3: vec4<f32>) -> vec4<f32> {
    var s = acc;
    s += a.x * b0;
    if REAL > 1u {
        s += a.y * b1;
    }
    if REAL > 2u {
        s += a.z * b2;
    }
    if REAL > 3u {
        s += a.w * b3;
    }
    return s;
}

// Adds the bias after the sum, one rounding as in a separate bias pass. n is a multiple of 4
// (implicit.rs checks it), so a texel of C is one aligned vec4 of its buffer.
fn store(c0: u32, row: u32, col: u32, b: vec4<f32>, v: vec4<f32>) {
    if row < p.m && col < p.n {
        c[(c0 + row * p.n + col) / 4u] = v + b;
    }
}

// The body below is unrolled by hand (ROWS rows × 2 texels, rows 8..15 under `ROWS > 8u`), as
// in matmul_reg.wgsl: llvmpipe keeps only straight-line accumulators in registers.

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = select(gid.y, gid.x, ROWS_X) * ROWS;
    let cb = select(gid.x, gid.y, ROWS_X) * 2u;
    if row0 >= p.m || cb >= p.n4 {
        return;
    }
    let last = p.m - 1u;
    let layer_x = gid.z * p.rs.x;
    let c0 = gid.z * p.rs.z;
    let o0 = origin(min(row0 + 0u, last));
    let o1 = origin(min(row0 + 1u, last));
    let o2 = origin(min(row0 + 2u, last));
    let o3 = origin(min(row0 + 3u, last));
    let o4 = origin(min(row0 + 4u, last));
    let o5 = origin(min(row0 + 5u, last));
    let o6 = origin(min(row0 + 6u, last));
    let o7 = origin(min(row0 + 7u, last));
    var o8: Origin; var o9: Origin; var o10: Origin; var o11: Origin;
    var o12: Origin; var o13: Origin; var o14: Origin; var o15: Origin;
    if ROWS > 8u {
        o8 = origin(min(row0 + 8u, last));
        o9 = origin(min(row0 + 9u, last));
        o10 = origin(min(row0 + 10u, last));
        o11 = origin(min(row0 + 11u, last));
        o12 = origin(min(row0 + 12u, last));
        o13 = origin(min(row0 + 13u, last));
        o14 = origin(min(row0 + 14u, last));
        o15 = origin(min(row0 + 15u, last));
    }
    let inv_x = 1.0 / vec2<f32>(textureDimensions(tx));
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
    for (var kyx = 0u; kyx < p.k * p.k; kyx++) {
        let ky = i32(kyx / p.k);
        let kx = i32(kyx % p.k);
        let offset = (ky * i32(p.w) + kx) * i32(p.cin4);
        let t0 = tap(o0, ky, kx, offset);
        let t1 = tap(o1, ky, kx, offset);
        let t2 = tap(o2, ky, kx, offset);
        let t3 = tap(o3, ky, kx, offset);
        let t4 = tap(o4, ky, kx, offset);
        let t5 = tap(o5, ky, kx, offset);
        let t6 = tap(o6, ky, kx, offset);
        let t7 = tap(o7, ky, kx, offset);
        var t8: Tap; var t9: Tap; var t10: Tap; var t11: Tap;
        var t12: Tap; var t13: Tap; var t14: Tap; var t15: Tap;
        if ROWS > 8u {
            t8 = tap(o8, ky, kx, offset);
            t9 = tap(o9, ky, kx, offset);
            t10 = tap(o10, ky, kx, offset);
            t11 = tap(o11, ky, kx, offset);
            t12 = tap(o12, ky, kx, offset);
            t13 = tap(o13, ky, kx, offset);
            t14 = tap(o14, ky, kx, offset);
            t15 = tap(o15, ky, kx, offset);
        }
        for (var c4 = 0u; c4 < p.cin4; c4++) {
            let b00 = fetch_b(x0, yb + 0u, lb, inv_b); let b10 = fetch_b(x1, yb + 0u, lb, inv_b);
            var b01 = vec4<f32>(0.0); var b02 = vec4<f32>(0.0); var b03 = vec4<f32>(0.0);
            var b11 = vec4<f32>(0.0); var b12 = vec4<f32>(0.0); var b13 = vec4<f32>(0.0);
            if REAL > 1u {
                b01 = fetch_b(x0, yb + 1u, lb, inv_b); b11 = fetch_b(x1, yb + 1u, lb, inv_b);
            }
            if REAL > 2u {
                b02 = fetch_b(x0, yb + 2u, lb, inv_b); b12 = fetch_b(x1, yb + 2u, lb, inv_b);
            }
            if REAL > 3u {
                b03 = fetch_b(x0, yb + 3u, lb, inv_b); b13 = fetch_b(x1, yb + 3u, lb, inv_b);
            }
            let a0 = fetch_x(t0, c4, layer_x, inv_x);
            acc0_0 = fma4(acc0_0, a0, b00, b01, b02, b03);
            acc0_1 = fma4(acc0_1, a0, b10, b11, b12, b13);
            let a1 = fetch_x(t1, c4, layer_x, inv_x);
            acc1_0 = fma4(acc1_0, a1, b00, b01, b02, b03);
            acc1_1 = fma4(acc1_1, a1, b10, b11, b12, b13);
            let a2 = fetch_x(t2, c4, layer_x, inv_x);
            acc2_0 = fma4(acc2_0, a2, b00, b01, b02, b03);
            acc2_1 = fma4(acc2_1, a2, b10, b11, b12, b13);
            let a3 = fetch_x(t3, c4, layer_x, inv_x);
            acc3_0 = fma4(acc3_0, a3, b00, b01, b02, b03);
            acc3_1 = fma4(acc3_1, a3, b10, b11, b12, b13);
            let a4 = fetch_x(t4, c4, layer_x, inv_x);
            acc4_0 = fma4(acc4_0, a4, b00, b01, b02, b03);
            acc4_1 = fma4(acc4_1, a4, b10, b11, b12, b13);
            let a5 = fetch_x(t5, c4, layer_x, inv_x);
            acc5_0 = fma4(acc5_0, a5, b00, b01, b02, b03);
            acc5_1 = fma4(acc5_1, a5, b10, b11, b12, b13);
            let a6 = fetch_x(t6, c4, layer_x, inv_x);
            acc6_0 = fma4(acc6_0, a6, b00, b01, b02, b03);
            acc6_1 = fma4(acc6_1, a6, b10, b11, b12, b13);
            let a7 = fetch_x(t7, c4, layer_x, inv_x);
            acc7_0 = fma4(acc7_0, a7, b00, b01, b02, b03);
            acc7_1 = fma4(acc7_1, a7, b10, b11, b12, b13);
            if ROWS > 8u {
                let a8 = fetch_x(t8, c4, layer_x, inv_x);
                acc8_0 = fma4(acc8_0, a8, b00, b01, b02, b03);
                acc8_1 = fma4(acc8_1, a8, b10, b11, b12, b13);
                let a9 = fetch_x(t9, c4, layer_x, inv_x);
                acc9_0 = fma4(acc9_0, a9, b00, b01, b02, b03);
                acc9_1 = fma4(acc9_1, a9, b10, b11, b12, b13);
                let a10 = fetch_x(t10, c4, layer_x, inv_x);
                acc10_0 = fma4(acc10_0, a10, b00, b01, b02, b03);
                acc10_1 = fma4(acc10_1, a10, b10, b11, b12, b13);
                let a11 = fetch_x(t11, c4, layer_x, inv_x);
                acc11_0 = fma4(acc11_0, a11, b00, b01, b02, b03);
                acc11_1 = fma4(acc11_1, a11, b10, b11, b12, b13);
                let a12 = fetch_x(t12, c4, layer_x, inv_x);
                acc12_0 = fma4(acc12_0, a12, b00, b01, b02, b03);
                acc12_1 = fma4(acc12_1, a12, b10, b11, b12, b13);
                let a13 = fetch_x(t13, c4, layer_x, inv_x);
                acc13_0 = fma4(acc13_0, a13, b00, b01, b02, b03);
                acc13_1 = fma4(acc13_1, a13, b10, b11, b12, b13);
                let a14 = fetch_x(t14, c4, layer_x, inv_x);
                acc14_0 = fma4(acc14_0, a14, b00, b01, b02, b03);
                acc14_1 = fma4(acc14_1, a14, b10, b11, b12, b13);
                let a15 = fetch_x(t15, c4, layer_x, inv_x);
                acc15_0 = fma4(acc15_0, a15, b00, b01, b02, b03);
                acc15_1 = fma4(acc15_1, a15, b10, b11, b12, b13);
            }
            yb += 4u;
            if yb == p.layer_rows_b {
                yb = 0u;
                lb += 1u;
            }
        }
    }
    let bias_0 = bias4(gid.z, 4u * (cb + 0u));
    let bias_1 = bias4(gid.z, 4u * (cb + 1u));
    store(c0, row0 + 0u, 4u * (cb + 0u), bias_0, acc0_0); store(c0, row0 + 0u, 4u * (cb + 1u), bias_1, acc0_1);
    store(c0, row0 + 1u, 4u * (cb + 0u), bias_0, acc1_0); store(c0, row0 + 1u, 4u * (cb + 1u), bias_1, acc1_1);
    store(c0, row0 + 2u, 4u * (cb + 0u), bias_0, acc2_0); store(c0, row0 + 2u, 4u * (cb + 1u), bias_1, acc2_1);
    store(c0, row0 + 3u, 4u * (cb + 0u), bias_0, acc3_0); store(c0, row0 + 3u, 4u * (cb + 1u), bias_1, acc3_1);
    store(c0, row0 + 4u, 4u * (cb + 0u), bias_0, acc4_0); store(c0, row0 + 4u, 4u * (cb + 1u), bias_1, acc4_1);
    store(c0, row0 + 5u, 4u * (cb + 0u), bias_0, acc5_0); store(c0, row0 + 5u, 4u * (cb + 1u), bias_1, acc5_1);
    store(c0, row0 + 6u, 4u * (cb + 0u), bias_0, acc6_0); store(c0, row0 + 6u, 4u * (cb + 1u), bias_1, acc6_1);
    store(c0, row0 + 7u, 4u * (cb + 0u), bias_0, acc7_0); store(c0, row0 + 7u, 4u * (cb + 1u), bias_1, acc7_1);
    if ROWS > 8u {
        store(c0, row0 + 8u, 4u * (cb + 0u), bias_0, acc8_0); store(c0, row0 + 8u, 4u * (cb + 1u), bias_1, acc8_1);
        store(c0, row0 + 9u, 4u * (cb + 0u), bias_0, acc9_0); store(c0, row0 + 9u, 4u * (cb + 1u), bias_1, acc9_1);
        store(c0, row0 + 10u, 4u * (cb + 0u), bias_0, acc10_0); store(c0, row0 + 10u, 4u * (cb + 1u), bias_1, acc10_1);
        store(c0, row0 + 11u, 4u * (cb + 0u), bias_0, acc11_0); store(c0, row0 + 11u, 4u * (cb + 1u), bias_1, acc11_1);
        store(c0, row0 + 12u, 4u * (cb + 0u), bias_0, acc12_0); store(c0, row0 + 12u, 4u * (cb + 1u), bias_1, acc12_1);
        store(c0, row0 + 13u, 4u * (cb + 0u), bias_0, acc13_0); store(c0, row0 + 13u, 4u * (cb + 1u), bias_1, acc13_1);
        store(c0, row0 + 14u, 4u * (cb + 0u), bias_0, acc14_0); store(c0, row0 + 14u, 4u * (cb + 1u), bias_1, acc14_1);
        store(c0, row0 + 15u, 4u * (cb + 0u), bias_0, acc15_0); store(c0, row0 + 15u, 4u * (cb + 1u), bias_1, acc15_1);
    }
}
