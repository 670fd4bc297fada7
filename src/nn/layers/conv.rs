//! A stride-1 convolution on pixel-major activations (`[N·H·W, C]`; the first layer reads the
//! NCHW batch): im2col, then the dense product with the `[cout, cin·k·k]` weight; backward
//! the dense backward on the columns, then col2im into dx.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use super::linear::{self, Dense};
use crate::error::Result;
use crate::kernels::conv::{self, ConvShape, InputLayout};
use crate::nn::layer::Act;

/// The convolution's geometry and input layout for `io`'s input image.
fn geometry(
    batch: usize,
    input: Act,
    first: bool,
    (cin, k, pad): (usize, usize, usize),
) -> (ConvShape, InputLayout) {
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
            c: cin,
            h,
            w,
            k,
            pad,
        },
        layout,
    )
}

fn dense(geo: &ConvShape, cout: usize) -> Dense {
    Dense {
        rows: geo.rows(),
        inp: geo.cols(),
        out: cout,
    }
}

pub(super) fn build(
    io: &LayerIo<'_>,
    cin: usize,
    cout: usize,
    k: usize,
    pad: usize,
) -> Result<LayerPass> {
    let r = io.replicas;
    let (geo, layout) = geometry(io.batch, io.input, io.dx.is_none(), (cin, k, pad));
    let d = dense(&geo, cout);
    let cols = io.zeros(d.rows * d.inp, "im2col columns")?;
    let dcols = match io.dx {
        Some(_) => Some(io.zeros(d.rows * d.inp, "im2col column gradients")?),
        None => None,
    };
    let (fwd, mut bwd) = linear::dense(io, d, &cols, dcols.as_ref())?;
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

pub(super) fn forward(
    io: &RefIo<'_>,
    (cin, cout, k, pad): (usize, usize, usize, usize),
    x: &[f64],
) -> Vec<f64> {
    let (geo, layout) = geometry(io.batch, io.input, io.first, (cin, k, pad));
    let cols = conv::reference_im2col(geo, layout, x);
    linear::dense_forward(dense(&geo, cout), io.params, &cols)
}

pub(super) fn backward(
    io: &RefIo<'_>,
    (cin, cout, k, pad): (usize, usize, usize, usize),
    x: &[f64],
    dy: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    let (geo, layout) = geometry(io.batch, io.input, io.first, (cin, k, pad));
    let cols = conv::reference_im2col(geo, layout, x);
    let dcols = linear::dense_backward(dense(&geo, cout), io.params, &cols, dy, grads);
    conv::reference_col2im(geo, &dcols)
}
