//! 2×2 max pooling with stride 2 on pixel-major images, optionally with the ReLU before it
//! applied in the same pass (max and ReLU commute), and max pooling over any window; the
//! forward records each output's winner, which the backward sends the gradient to.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use crate::error::Result;
use crate::kernels::maxpool::window::{self, WindowShape};
use crate::kernels::maxpool::{self, PoolShape};
use crate::kernels::{Dispatch, View};
use crate::nn::layer::Act;

fn shape(batch: usize, input: Act) -> PoolShape {
    let Act::Image(c, h, w) = input else {
        unreachable!("Model::new checks a pool's input is an image")
    };
    PoolShape { n: batch, h, w, c }
}

pub(super) fn build(io: &LayerIo<'_>, relu: bool) -> Result<LayerPass> {
    let geo = shape(io.batch, io.input);
    pooling(
        io,
        geo.output_len(),
        |x, y, arg| maxpool::prepare_forward(io.gpu, geo, relu, x, y, arg),
        |dy, dx, arg| maxpool::prepare_backward(io.gpu, geo, dy, dx, arg),
    )
}

/// A max pool's pass over a buffer of `outputs` winners per replica, which `forward(x, y,
/// winners)` fills and `backward(dy, dx, winners)` reads (when the layer takes an input
/// gradient).
fn pooling(
    io: &LayerIo<'_>,
    outputs: usize,
    forward: impl FnOnce(View<'_>, View<'_>, View<'_, u32>) -> Result<Dispatch>,
    backward: impl FnOnce(View<'_>, View<'_>, View<'_, u32>) -> Result<Dispatch>,
) -> Result<LayerPass> {
    let r = io.replicas;
    let arg = io
        .gpu
        .zeros::<u32>(r * outputs.next_multiple_of(4), "pooling winners")?;
    let winners = arg.replicas(r);
    let fwd = forward(io.x.replicas(r), io.y.replicas(r), winners)?;
    let bwd = match io.dx {
        Some(dx) => Some(backward(io.dy.replicas(r), dx.replicas(r), winners)?),
        None => None,
    };
    let mut pass = LayerPass::new(fwd, bwd);
    pass.indices.push(arg);
    Ok(pass)
}

pub(super) fn forward(io: &RefIo<'_>, relu: bool, x: &[f64]) -> Vec<f64> {
    maxpool::reference_forward(shape(io.batch, io.input), relu, x).0
}

pub(super) fn backward(io: &RefIo<'_>, relu: bool, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let geo = shape(io.batch, io.input);
    let (_, winners) = maxpool::reference_forward(geo, relu, x);
    maxpool::reference_backward(geo, dy, &winners)
}

fn window_shape(batch: usize, input: Act, (k, stride, pad): (usize, usize, usize)) -> WindowShape {
    let PoolShape { n, h, w, c } = shape(batch, input);
    WindowShape {
        n,
        h,
        w,
        c,
        k,
        stride,
        pad,
    }
}

/// Max pooling over `(k, stride, pad)` windows.
pub(super) fn build_window(io: &LayerIo<'_>, win: (usize, usize, usize)) -> Result<LayerPass> {
    let geo = window_shape(io.batch, io.input, win);
    pooling(
        io,
        geo.output_len(),
        |x, y, arg| window::prepare_forward(io.gpu, geo, x, y, arg),
        |dy, dx, arg| window::prepare_backward(io.gpu, geo, dy, dx, arg),
    )
}

pub(super) fn window_forward(io: &RefIo<'_>, win: (usize, usize, usize), x: &[f64]) -> Vec<f64> {
    window::reference_forward(window_shape(io.batch, io.input, win), x).0
}

pub(super) fn window_backward(
    io: &RefIo<'_>,
    win: (usize, usize, usize),
    x: &[f64],
    dy: &[f64],
) -> Vec<f64> {
    let geo = window_shape(io.batch, io.input, win);
    let (_, winners) = window::reference_forward(geo, x);
    window::reference_backward(geo, dy, &winners)
}
