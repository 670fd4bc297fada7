//! Convolution as an implicit GEMM on images (see [`super::image`]): the forward pass and the
//! data gradient read their patches straight from the activations (`implicit.wgsl`, the weight
//! packed by `super::pack`); the weight and bias gradients are in [`super::weight_grad`]. No im2col or col2im
//! matrix exists; the products read their operands through texture samples, the register
//! form for CPU rasterisers (`reg` / `reg8`, whose ROWS they share).

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build};
use super::super::textures::nearest_sampler as sampler;
use super::super::view::View;
use super::image::{Image, expect_image};
use super::pack::{Packed, pack_weight};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const FWD_SRC: &str = crate::wgsl!("kernels/conv/implicit.wgsl");

pub use super::geometry::Conv;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FwdParams {
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
}

/// The product of `implicit.wgsl` over image `x`: output grid `(ho, wo)` of `n` images,
/// input `(h, w)` with `cin4` texels a pixel, `stride`, `pad`, dilation `1 << dshift`.
struct Product {
    /// Channels of each texel that can be non-zero (the shader's REAL): 4, or a first layer's
    /// channel count below 4.
    real: usize,
    n: usize,
    hw: (usize, usize),
    out_hw: (usize, usize),
    cin4: usize,
    k: usize,
    stride: usize,
    pad: usize,
    dshift: u32,
    cols: usize,
}

#[allow(clippy::too_many_arguments)]
fn implicit_product(
    gpu: &Gpu,
    rows: usize,
    p: Product,
    x: &Image,
    b: &Packed,
    bias: Option<View<'_>>,
    c: View<'_>,
) -> Result<Dispatch> {
    const OP: &str = "conv";
    let m = p.n * p.out_hw.0 * p.out_hw.1;
    c.expect_len(OP, "output", m * p.cols)?;
    // The kernel stores texels of C as vec4s.
    if !p.cols.is_multiple_of(4) || !c.offset.is_multiple_of(4) || !c.stride.is_multiple_of(4) {
        return Err(Error::shape(
            OP,
            format!(
                "the output needs channels and offsets in 4s, got {} channels",
                p.cols
            ),
        ));
    }
    let params = FwdParams {
        m: as_u32(OP, "output pixels", m)?,
        n: as_u32(OP, "channels", p.cols)?,
        n4: p.cols.div_ceil(4) as u32,
        cin4: as_u32(OP, "channels", p.cin4)?,
        h: as_u32(OP, "h", p.hw.0)?,
        w: as_u32(OP, "w", p.hw.1)?,
        ho: as_u32(OP, "h", p.out_hw.0)?,
        wo: as_u32(OP, "w", p.out_hw.1)?,
        k: as_u32(OP, "k", p.k)?,
        stride: as_u32(OP, "stride", p.stride)?,
        pad: as_u32(OP, "pad", p.pad)?,
        dshift: p.dshift,
        layer_rows_b: b.rows_per_layer,
        img_shift: x.layout.shift(),
        img_mask: x.layout.mask(),
        bias: bias.is_some() as u32,
        off_b: as_u32(OP, "offset", bias.map_or(0, |v| v.offset))?,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    let bias_rep = bias.map_or((c.replicas, 0), |v| v.rep());
    if bias_rep.0 != c.replicas {
        return Err(Error::shape(
            OP,
            "the bias and the output differ in replicas",
        ));
    }
    // The shader reads the bias binding only when p.bias = 1, but every binding needs a
    // buffer, and the output's cannot be bound twice: a bias-free product binds a dummy.
    let dummy;
    let bias_buf = match bias {
        Some(v) => &v.buf.buffer,
        None => {
            dummy = gpu.zeros::<f32>(4, "no bias")?;
            &dummy.buffer
        }
    };
    // 8×8 invocations. Column pairs (two texels) run along x when there are 8 or more, else
    // row blocks do (ROWS_X; see implicit.wgsl), so llvmpipe's SIMD lanes along x are filled.
    let rows_x = p.cols.div_ceil(8) < 8;
    let (col_groups, row_groups) = (p.cols.div_ceil(64), m.div_ceil(8 * rows));
    let groups = if rows_x {
        [row_groups, col_groups]
    } else {
        [col_groups, row_groups]
    };
    // Each output element sums k·k taps of cin4 texels (4 channels each).
    let flops = 2.0 * (m * p.cols * p.k * p.k * 4 * p.cin4 * c.replicas) as f64;
    let launch = build(
        gpu,
        Launch {
            label: "conv_implicit",
            source: FWD_SRC,
            entry: "main",
            constants: &[
                ("ROWS", rows as f64),
                ("REAL", p.real as f64),
                ("ROWS_X", rows_x as u8 as f64),
            ],
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(Replicas {
                count: as_u32(OP, "replicas", c.replicas)?,
                strides: [
                    x.layout.layers as u32,
                    b.layers,
                    as_u32(OP, "stride", c.stride)?,
                    as_u32(OP, "stride", bias_rep.1)?,
                ],
            }),
            bindings: &[
                Bind::Tex(&x.view),
                Bind::Tex(&b.view),
                Bind::Buf(&c.buf.buffer),
                Bind::Sampler(&sampler(gpu)),
                Bind::Buf(bias_buf),
            ],
            groups: [
                as_u32(OP, "groups", groups[0])?,
                as_u32(OP, "groups", groups[1])?,
                1,
            ],
        },
    )?;
    Ok(launch.with_flops(flops))
}

/// Prepare y = conv(x) + bias, y pixel-major `[n·ho·wo, cout]`, from the image of x (its
/// texels per pixel `g.cin4()`); `rows` is the register form's rows per invocation (16 or 8).
pub fn prepare_forward(
    gpu: &Gpu,
    rows: usize,
    g: Conv,
    x: &Image,
    weight: View<'_>,
    bias: Option<View<'_>>,
    y: View<'_>,
) -> Result<Dispatch> {
    // Fewer than 4 channels fill one texel a pixel, padded with zeros (which a layer past the
    // first never is: those need channels in 4s), so only the first `cin` can be non-zero.
    forward_with_real(gpu, (rows, g.cin.min(4)), g, x, (weight, bias), y)
}

/// [`prepare_forward`] told that only the first `real` channels of each texel can be
/// non-zero (the shader's REAL; 4 reads them all, for the tests).
pub(super) fn forward_with_real(
    gpu: &Gpu,
    (rows, real): (usize, usize),
    g: Conv,
    x: &Image,
    (weight, bias): (View<'_>, Option<View<'_>>),
    y: View<'_>,
) -> Result<Dispatch> {
    g.check("conv")?;
    weight.expect_len("conv", "weight", g.weight_len())?;
    expect_image("conv", x, g.n * g.h * g.w * g.cin4())?;
    let packed = pack_weight(gpu, &g, (g.cin, 4 * g.cin4(), g.cout), false, weight)?;
    let product = Product {
        real,
        n: g.n,
        hw: (g.h, g.w),
        out_hw: g.out_hw(),
        cin4: g.cin4(),
        k: g.k,
        stride: g.stride,
        pad: g.pad,
        dshift: 0,
        cols: g.cout,
    };
    let multiply = implicit_product(gpu, rows, product, x, &packed, bias, y)?;
    Ok(packed.dispatch.then(multiply))
}

/// Prepare dx (pixel-major `[n·h·w, cin]`) from the image of dy (`cout` a multiple of 4): the
/// convolution of dy, dilated by the stride, with the flipped, transposed kernel.
pub fn prepare_data_grad(
    gpu: &Gpu,
    rows: usize,
    g: Conv,
    dy: &Image,
    weight: View<'_>,
    dx: View<'_>,
) -> Result<Dispatch> {
    g.check("conv")?;
    if !g.cout.is_multiple_of(4) {
        return Err(Error::shape(
            "conv",
            format!(
                "the data gradient's image needs output channels in 4s, got {}",
                g.cout
            ),
        ));
    }
    weight.expect_len("conv", "weight", g.weight_len())?;
    expect_image("conv", dy, g.out_pixels() * g.cout / 4)?;
    let packed = pack_weight(gpu, &g, (g.cout, g.cout, g.cin), true, weight)?;
    let product = Product {
        real: 4,
        n: g.n,
        hw: g.out_hw(),
        out_hw: (g.h, g.w),
        cin4: g.cout / 4,
        k: g.k,
        stride: 1,
        pad: g.k - 1 - g.pad,
        dshift: g.stride.ilog2(),
        cols: g.cin,
    };
    let multiply = implicit_product(gpu, rows, product, dy, &packed, None, dx)?;
    Ok(packed.dispatch.then(multiply))
}

/// The forward product's uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<super::super::layout::UniformLayout> {
    use super::super::layout::uniform_layout;
    let fwd = uniform_layout!(
        "conv_implicit",
        FWD_SRC,
        "Params",
        FwdParams {
            m,
            n,
            n4,
            cin4,
            h,
            w,
            ho,
            wo,
            k,
            stride,
            pad,
            dshift,
            layer_rows_b,
            img_shift,
            img_mask,
            bias,
            off_b,
            _pad0,
            _pad1,
            _pad2,
        }
    );
    vec![fwd.replicated()]
}
