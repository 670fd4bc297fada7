//! Flatten: pixel-major image activations (`[N, H·W, C]`) to features in PyTorch's (c, y, x)
//! order (`[N, C·H·W]`), a batched transpose; backward the transpose the other way.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use crate::error::Result;
use crate::kernels::transpose;
use crate::nn::layer::Act;

fn planes(input: Act) -> (usize, usize) {
    let Act::Image(c, h, w) = input else {
        unreachable!("Model::new checks flatten's input is an image")
    };
    (h * w, c)
}

pub(super) fn build(io: &LayerIo<'_>) -> Result<LayerPass> {
    let (r, (hw, c)) = (io.replicas, planes(io.input));
    let fwd = transpose::prepare(io.gpu, io.batch, hw, c, io.x.replicas(r), io.y.replicas(r))?;
    let bwd = match io.dx {
        Some(dx) => Some(transpose::prepare(
            io.gpu,
            io.batch,
            c,
            hw,
            io.dy.replicas(r),
            dx.replicas(r),
        )?),
        None => None,
    };
    Ok(LayerPass::new(fwd, bwd))
}

pub(super) fn forward(io: &RefIo<'_>, x: &[f64]) -> Vec<f64> {
    let (hw, c) = planes(io.input);
    transpose::reference(io.batch, hw, c, x)
}

pub(super) fn backward(io: &RefIo<'_>, dy: &[f64]) -> Vec<f64> {
    let (hw, c) = planes(io.input);
    transpose::reference(io.batch, c, hw, dy)
}
