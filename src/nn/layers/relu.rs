//! ReLU, y = max(x, 0), elementwise over one example's activations in any layout; backward
//! passes dy where y > 0.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use crate::error::Result;
use crate::kernels::relu;

pub(super) fn build(io: &LayerIo<'_>) -> Result<LayerPass> {
    let (r, n) = (io.replicas, io.batch * io.input.len());
    let fwd = relu::prepare_forward(io.gpu, n, io.x.replicas(r), io.y.replicas(r))?;
    let bwd = match io.dx {
        Some(dx) => Some(relu::prepare_backward(
            io.gpu,
            n,
            io.dy.replicas(r),
            dx.replicas(r),
            io.y.replicas(r),
        )?),
        None => None,
    };
    Ok(LayerPass::new(fwd, bwd))
}

pub(super) fn forward(_io: &RefIo<'_>, x: &[f64]) -> Vec<f64> {
    relu::reference_forward(x)
}

pub(super) fn backward(y: &[f64], dy: &[f64]) -> Vec<f64> {
    relu::reference_backward(dy, y)
}
