//! Average pooling: global, each example's image to one feature per channel, and over 2×2
//! windows with stride 2.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use crate::error::Result;
use crate::kernels::avgpool::{self, AvgShape};
use crate::kernels::maxpool::PoolShape;
use crate::kernels::{Dispatch, View};
use crate::nn::layer::Act;

fn shape(batch: usize, input: Act) -> AvgShape {
    let Act::Image(c, h, w) = input else {
        unreachable!("Model::new checks a pool's input is an image")
    };
    AvgShape {
        n: batch,
        hw: h * w,
        c,
    }
}

/// A pooling's passes from its two kernels, each taking (src, dst): the forward x to y, and
/// (unless this is the first layer) the backward dy to dx.
fn passes(
    io: &LayerIo<'_>,
    forward: impl Fn(View<'_>, View<'_>) -> Result<Dispatch>,
    backward: impl Fn(View<'_>, View<'_>) -> Result<Dispatch>,
) -> Result<LayerPass> {
    let r = io.replicas;
    let fwd = forward(io.x.replicas(r), io.y.replicas(r))?;
    let bwd = match io.dx {
        Some(dx) => Some(backward(io.dy.replicas(r), dx.replicas(r))?),
        None => None,
    };
    Ok(LayerPass::new(fwd, bwd))
}

pub(super) fn build(io: &LayerIo<'_>) -> Result<LayerPass> {
    let s = shape(io.batch, io.input);
    passes(
        io,
        |x, y| avgpool::prepare_forward(io.gpu, s, x, y),
        |dy, dx| avgpool::prepare_backward(io.gpu, s, dy, dx),
    )
}

pub(super) fn forward(io: &RefIo<'_>, x: &[f64]) -> Vec<f64> {
    avgpool::reference_forward(shape(io.batch, io.input), x)
}

pub(super) fn backward(io: &RefIo<'_>, dy: &[f64]) -> Vec<f64> {
    avgpool::reference_backward(shape(io.batch, io.input), dy)
}

fn window_shape(batch: usize, input: Act) -> PoolShape {
    let Act::Image(c, h, w) = input else {
        unreachable!("Model::new checks a pool's input is an image")
    };
    PoolShape { n: batch, h, w, c }
}

pub(super) fn build_window(io: &LayerIo<'_>) -> Result<LayerPass> {
    let s = window_shape(io.batch, io.input);
    passes(
        io,
        |x, y| avgpool::prepare_window_forward(io.gpu, s, x, y),
        |dy, dx| avgpool::prepare_window_backward(io.gpu, s, dy, dx),
    )
}

pub(super) fn window_forward(io: &RefIo<'_>, x: &[f64]) -> Vec<f64> {
    avgpool::reference_window_forward(window_shape(io.batch, io.input), x)
}

pub(super) fn window_backward(io: &RefIo<'_>, dy: &[f64]) -> Vec<f64> {
    avgpool::reference_window_backward(window_shape(io.batch, io.input), dy)
}
