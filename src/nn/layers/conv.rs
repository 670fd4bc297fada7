//! A convolution on pixel-major activations (`[N·H·W, C]`; the first layer reads the
//! NCHW batch). With the register (texture) products it is an implicit GEMM that reads its
//! patches from the activations' image (`kernels::conv::implicit`), the bias added in the
//! product and its gradient summed with the weight's. With the tiled products, or channel
//! counts the images cannot hold (not multiples of 4 past the first layer), it is im2col, the
//! dense product with the `[cout, cin·k·k]` weight, and backward the dense backward on the
//! columns, then col2im into dx.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use super::linear::{self, Dense, Fused};
use crate::error::Result;
use crate::kernels::conv::implicit::{self, Conv};
use crate::kernels::conv::{self, ConvShape, InputLayout, image, weight_grad};
use crate::kernels::matmul::Variant;
use crate::nn::layer::{Act, Layer};

/// A convolution layer's sizes.
#[derive(Clone, Copy)]
pub(crate) struct Spec {
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub pad: usize,
    pub stride: usize,
    pub bias: bool,
}

impl Spec {
    /// The sizes of a `Layer::Conv2d`.
    pub(crate) fn of(layer: Layer) -> Spec {
        let Layer::Conv2d {
            cin,
            cout,
            k,
            pad,
            stride,
            bias,
        } = layer
        else {
            unreachable!("only a convolution has convolution sizes")
        };
        Spec {
            cin,
            cout,
            k,
            pad,
            stride,
            bias,
        }
    }
}

/// The convolution's geometry and input layout for `io`'s input image.
fn geometry(batch: usize, input: Act, first: bool, c: Spec) -> (ConvShape, InputLayout) {
    let Act::Image(_, h, w) = input else {
        unreachable!("Model::new checks a convolution's input is an image")
    };
    let layout = if first {
        InputLayout::Nchw
    } else {
        InputLayout::PixelMajor
    };
    (
        ConvShape {
            n: batch,
            c: c.cin,
            h,
            w,
            k: c.k,
            pad: c.pad,
            stride: c.stride,
        },
        layout,
    )
}

fn dense(geo: &ConvShape, c: Spec) -> Dense {
    Dense {
        rows: geo.rows(),
        inp: geo.cols(),
        out: c.cout,
        bias: c.bias,
    }
}

pub(super) fn build(io: &LayerIo<'_>, c: Spec) -> Result<LayerPass> {
    match implicit_rows(
        io.kernels.conv(),
        (c.cin, c.cout, c.stride),
        io.dx.is_none(),
    ) {
        Some(rows) => build_implicit(io, rows, c),
        None => build_im2col(io, c),
    }
}

/// The rows per invocation of the implicit kernels when a convolution from `cin` to `cout`
/// channels with `stride` runs as an implicit GEMM with `variant`'s products, else `None`
/// (im2col): the register forms, whose texture reads the images serve; the images hold
/// channels in 4s, which the first layer's staging pads and activations must already be; and
/// the kernels step between output pixels by shifts, so the stride is a power of two (a ViT's
/// 7-pixel patches run im2col).
pub(crate) fn implicit_rows(
    variant: Variant,
    (cin, cout, stride): (usize, usize, usize),
    first: bool,
) -> Option<usize> {
    let rows = match variant {
        Variant::Register => 16,
        Variant::Register8 => 8,
        Variant::Tiled | Variant::Subgroup => return None,
    };
    let channels = cout.is_multiple_of(4) && (first || cin.is_multiple_of(4));
    (channels && stride.is_power_of_two()).then_some(rows)
}

/// The convolution's geometry for the implicit kernels.
fn implicit_geometry(io: &LayerIo<'_>, c: Spec) -> Conv {
    let (geo, _) = geometry(io.batch, io.input, io.dx.is_none(), c);
    Conv {
        n: geo.n,
        cin: c.cin,
        h: geo.h,
        w: geo.w,
        cout: c.cout,
        k: c.k,
        stride: c.stride,
        pad: c.pad,
    }
}

/// Forward: stage x's image (the first layer converts its NCHW batch), then the product with
/// the bias. Backward: stage dy's image, then the weight and bias gradients, then dx. The
/// backward reads the image of x its step's forward staged (x does not change in between).
fn build_implicit(io: &LayerIo<'_>, rows: usize, c: Spec) -> Result<LayerPass> {
    let r = io.replicas;
    let g = implicit_geometry(io, c);
    let x_image = match io.dx {
        None => image::from_nchw(io.gpu, (g.n, g.cin, g.h, g.w), io.x.replicas(r))?,
        Some(_) => image::copied(io.gpu, "conv", io.x.replicas(r), g.n * g.h * g.w * g.cin4())?,
    };
    let (w, b) = (io.params[0], io.params.get(1).copied());
    let (dw, db) = (io.grads[0], io.grads.get(1).copied());
    let y = io.y.replicas(r);
    let product = implicit::prepare_forward(io.gpu, rows, g, &x_image, w, b, y)?;
    let fwd = x_image.stage.clone().then(product);
    // dy's image serves this backward only, so every convolution of a plan with dy of this
    // size stages into the same texture.
    let dy_image = io.shared_image("conv", io.dy.replicas(r), g.out_pixels() * g.cout / 4)?;
    let (wgrad, part) = weight_grad::prepare_weight_grad(io.gpu, g, (&x_image, &dy_image), dw, db)?;
    let mut bwd = dy_image.stage.clone().then(wgrad);
    if let Some(dx) = io.dx {
        bwd = bwd.then(implicit::prepare_data_grad(
            io.gpu,
            rows,
            g,
            &dy_image,
            w,
            dx.replicas(r),
        )?);
    }
    let mut pass = LayerPass::new(fwd, Some(bwd));
    pass.scratch.push(part);
    Ok(pass)
}

fn build_im2col(io: &LayerIo<'_>, c: Spec) -> Result<LayerPass> {
    let r = io.replicas;
    let (geo, layout) = geometry(io.batch, io.input, io.dx.is_none(), c);
    let d = dense(&geo, c);
    let cols = io.zeros(d.rows * d.inp, "im2col columns")?;
    // The column gradients serve this backward only (col2im reads them into dx).
    let dcols = match io.dx {
        Some(_) => Some(io.shared_zeros(
            r * (d.rows * d.inp).next_multiple_of(4),
            "im2col column gradients",
        )?),
        None => None,
    };
    let products = (Fused::default(), Some(io.kernels.conv()));
    let (fwd, mut bwd) = linear::dense(io, d, (&cols, dcols.as_ref()), products)?;
    let fwd =
        conv::prepare_im2col(io.gpu, geo, layout, io.x.replicas(r), cols.replicas(r))?.then(fwd);
    if let (Some(dcols), Some(dx)) = (&dcols, io.dx) {
        bwd = bwd.then(conv::prepare_col2im(
            io.gpu,
            geo,
            dcols.replicas(r),
            dx.replicas(r),
        )?);
    }
    let mut pass = LayerPass::new(fwd, Some(bwd));
    pass.scratch = [Some(cols), dcols].into_iter().flatten().collect();
    Ok(pass)
}

pub(super) fn forward(io: &RefIo<'_>, c: Spec, x: &[f64]) -> Vec<f64> {
    let (geo, layout) = geometry(io.batch, io.input, io.first, c);
    let cols = conv::reference_im2col(geo, layout, x);
    linear::dense_forward(dense(&geo, c), io.params, &cols)
}

pub(super) fn backward(
    io: &RefIo<'_>,
    c: Spec,
    x: &[f64],
    dy: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    let (geo, layout) = geometry(io.batch, io.input, io.first, c);
    let cols = conv::reference_im2col(geo, layout, x);
    let dcols = linear::dense_backward(dense(&geo, c), io.params, &cols, dy, grads);
    conv::reference_col2im(geo, &dcols)
}
