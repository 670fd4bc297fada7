// A convolution's weight (and bias) gradient as an implicit GEMM over the batch's pixels:
// part[o, q] = sum over output pixels P of dy[P, o] * patch(P, q), with the patches read
// straight from the layer's input image, never written out as an im2col matrix.
//
// Both operands are images staged as conv/implicit.wgsl describes (pixel-major, channels in
// texels of 4, 64-texel rows, rows per layer a power of two): tdy holds dy, o4 texels per
// output pixel (texel P*o4 + o4i); tx holds the layer's input, cin4 texels per input pixel.
// Output pixel P = (n*ho + oy)*wo + ox has tap (ky, kx) at input iy = oy*stride + ky - pad,
// ix = ox*stride + kx - pad (zero outside the image). Column texel q = (ky*k + kx)*cin4 + c4
// of the result holds channels 4*c4 .. 4*c4+3 of tap (ky, kx), for q < taps4 = k*k*cin4; the
// texel q = taps4, when q4 = taps4 + 1, is the constant (1, 0, 0, 0), so its first column sums
// dy alone: the bias gradient, from the same pass.
//
// Both operands are read with the sum's index (the pixel) as their row: a dy texel gives four
// rows of the result and a patch texel four columns, so neither needs transposing. The sum over
// all pixels is split into p.splits consecutive ranges of p.per_split pixels; split s writes its
// partial sums to part at (s*o + row)*4*q4 + col, and conv_reduce.wgsl adds the splits in order
// into the gradient vector (PyTorch's [o, c, ky, kx] order).
//
// Indexing: global invocation (gx, gy, gz) owns rows 16*gy .. 16*gy+15 (dy texels 4*gy ..
// 4*gy+3) and columns 8*gx .. 8*gx+7 (texels 2*gx, 2*gx+1), for split gz % splits of replica
// gz / splits. Texels past o4 or q4 are clamped when fetching and skipped when storing. The
// pixel loop advances (n, oy, ox) by one without dividing. Each accumulator adds its products
// in pixel order, one term at a time. Replicas: replica r's input image starts at layer
// r * p.rs.x of tx, its dy image at layer r * p.rs.y of tdy, and its partial sums r * p.rs.z
// elements into part (see Replicas in src/kernels/launch.rs).

struct Params {
    o: u32,
    o4: u32,
    q4: u32,
    taps4: u32,
    cin4: u32,
    h: u32,
    w: u32,
    ho: u32,
    wo: u32,
    k: u32,
    stride: u32,
    pad: u32,
    pixels: u32,
    per_split: u32,
    splits: u32,
    x_shift: u32,
    x_mask: u32,
    dy_shift: u32,
    dy_mask: u32,
    _pad0: u32,
    rs: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var tx: texture_2d_array<f32>;
@group(0) @binding(2) var tdy: texture_2d_array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<vec4<f32>>;
@group(0) @binding(4) var nearest: sampler;

// A column texel's tap and channel group, or the bias column.
struct Column {
    ky: i32,
    kx: i32,
    c4: u32,
    ones: bool,
}

fn column(q: u32) -> Column {
    let kyx = q / p.cin4;
    return Column(i32(kyx / p.k), i32(kyx % p.k), q % p.cin4, q >= p.taps4);
}

fn centre(i: u32, inv: f32) -> f32 {
    return (f32(i) + 0.5) * inv;
}

fn fetch_dy(t: u32, layer0: u32, inv: vec2<f32>) -> vec4<f32> {
    let uv = vec2<f32>(centre(t & 63u, inv.x), centre((t >> 6u) & p.dy_mask, inv.y));
    return textureSampleLevel(tdy, nearest, uv, layer0 + (t >> p.dy_shift), 0.0);
}

// Column `col` of output pixel (n, oy, ox): its patch texel, zero outside the image.
fn fetch_patch(col: Column, n: u32, oy: u32, ox: u32, layer0: u32, inv: vec2<f32>) -> vec4<f32> {
    let iy = i32(oy * p.stride) - i32(p.pad) + col.ky;
    let ix = i32(ox * p.stride) - i32(p.pad) + col.kx;
    let inside = iy >= 0 && ix >= 0 && iy < i32(p.h) && ix < i32(p.w);
    let t = select(0u, ((n * p.h + u32(max(iy, 0))) * p.w + u32(max(ix, 0))) * p.cin4 + col.c4, inside);
    let uv = vec2<f32>(centre(t & 63u, inv.x), centre((t >> 6u) & p.x_mask, inv.y));
    let v = textureSampleLevel(tx, nearest, uv, layer0 + (t >> p.x_shift), 0.0);
    return select(select(vec4<f32>(0.0), v, inside), vec4<f32>(1.0, 0.0, 0.0, 0.0), col.ones);
}

// part is bound as vec4s: every row and replica starts on a multiple of 4 elements.
fn store(base: u32, row: u32, q: u32, v: vec4<f32>) {
    if row < p.o && q < p.q4 {
        part[(base + row * 4u * p.q4) / 4u + q] = v;
    }
}

// The body below is unrolled by hand (16 rows × 2 texels), as in matmul_reg.wgsl: llvmpipe
// keeps only straight-line accumulators in registers.

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let q0 = gid.x * 2u;
    let r4 = gid.y * 4u;
    if q0 >= p.q4 || r4 >= p.o4 {
        return;
    }
    let replica = gid.z / p.splits;
    let split = gid.z % p.splits;
    let layer_x = replica * p.rs.x;
    let layer_dy = replica * p.rs.y;
    let inv_x = 1.0 / vec2<f32>(textureDimensions(tx));
    let inv_dy = 1.0 / vec2<f32>(textureDimensions(tdy));
    let col0 = column(q0);
    let col1 = column(min(q0 + 1u, p.q4 - 1u));
    let d0 = min(r4 + 0u, p.o4 - 1u);
    let d1 = min(r4 + 1u, p.o4 - 1u);
    let d2 = min(r4 + 2u, p.o4 - 1u);
    let d3 = min(r4 + 3u, p.o4 - 1u);
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
    let first = split * p.per_split;
    let end = min(first + p.per_split, p.pixels);
    let plane = p.ho * p.wo;
    var n = first / plane;
    var oy = (first % plane) / p.wo;
    var ox = first % p.wo;
    for (var px = first; px < end; px++) {
        let b0 = fetch_patch(col0, n, oy, ox, layer_x, inv_x);
        let b1 = fetch_patch(col1, n, oy, ox, layer_x, inv_x);
        let t = px * p.o4;
        let a0 = fetch_dy(t + d0, layer_dy, inv_dy);
        acc0_0 += a0.x * b0; acc0_1 += a0.x * b1;
        acc1_0 += a0.y * b0; acc1_1 += a0.y * b1;
        acc2_0 += a0.z * b0; acc2_1 += a0.z * b1;
        acc3_0 += a0.w * b0; acc3_1 += a0.w * b1;
        let a1 = fetch_dy(t + d1, layer_dy, inv_dy);
        acc4_0 += a1.x * b0; acc4_1 += a1.x * b1;
        acc5_0 += a1.y * b0; acc5_1 += a1.y * b1;
        acc6_0 += a1.z * b0; acc6_1 += a1.z * b1;
        acc7_0 += a1.w * b0; acc7_1 += a1.w * b1;
        let a2 = fetch_dy(t + d2, layer_dy, inv_dy);
        acc8_0 += a2.x * b0; acc8_1 += a2.x * b1;
        acc9_0 += a2.y * b0; acc9_1 += a2.y * b1;
        acc10_0 += a2.z * b0; acc10_1 += a2.z * b1;
        acc11_0 += a2.w * b0; acc11_1 += a2.w * b1;
        let a3 = fetch_dy(t + d3, layer_dy, inv_dy);
        acc12_0 += a3.x * b0; acc12_1 += a3.x * b1;
        acc13_0 += a3.y * b0; acc13_1 += a3.y * b1;
        acc14_0 += a3.z * b0; acc14_1 += a3.z * b1;
        acc15_0 += a3.w * b0; acc15_1 += a3.w * b1;
        ox += 1u;
        if ox == p.wo {
            ox = 0u;
            oy += 1u;
            if oy == p.ho {
                oy = 0u;
                n += 1u;
            }
        }
    }
    let base = replica * p.rs.z + split * p.o * 4u * p.q4;
    store(base, r4 * 4u + 0u, q0, acc0_0); store(base, r4 * 4u + 0u, q0 + 1u, acc0_1);
    store(base, r4 * 4u + 1u, q0, acc1_0); store(base, r4 * 4u + 1u, q0 + 1u, acc1_1);
    store(base, r4 * 4u + 2u, q0, acc2_0); store(base, r4 * 4u + 2u, q0 + 1u, acc2_1);
    store(base, r4 * 4u + 3u, q0, acc3_0); store(base, r4 * 4u + 3u, q0 + 1u, acc3_1);
    store(base, r4 * 4u + 4u, q0, acc4_0); store(base, r4 * 4u + 4u, q0 + 1u, acc4_1);
    store(base, r4 * 4u + 5u, q0, acc5_0); store(base, r4 * 4u + 5u, q0 + 1u, acc5_1);
    store(base, r4 * 4u + 6u, q0, acc6_0); store(base, r4 * 4u + 6u, q0 + 1u, acc6_1);
    store(base, r4 * 4u + 7u, q0, acc7_0); store(base, r4 * 4u + 7u, q0 + 1u, acc7_1);
    store(base, r4 * 4u + 8u, q0, acc8_0); store(base, r4 * 4u + 8u, q0 + 1u, acc8_1);
    store(base, r4 * 4u + 9u, q0, acc9_0); store(base, r4 * 4u + 9u, q0 + 1u, acc9_1);
    store(base, r4 * 4u + 10u, q0, acc10_0); store(base, r4 * 4u + 10u, q0 + 1u, acc10_1);
    store(base, r4 * 4u + 11u, q0, acc11_0); store(base, r4 * 4u + 11u, q0 + 1u, acc11_1);
    store(base, r4 * 4u + 12u, q0, acc12_0); store(base, r4 * 4u + 12u, q0 + 1u, acc12_1);
    store(base, r4 * 4u + 13u, q0, acc13_0); store(base, r4 * 4u + 13u, q0 + 1u, acc13_1);
    store(base, r4 * 4u + 14u, q0, acc14_0); store(base, r4 * 4u + 14u, q0 + 1u, acc14_1);
    store(base, r4 * 4u + 15u, q0, acc15_0); store(base, r4 * 4u + 15u, q0 + 1u, acc15_1);
}
