//! tanh, elementwise over one example's activations (BERT's pooler); the backward reads the
//! output, dx = dy·(1 − y²).

use super::super::pass::{LayerIo, LayerPass};
use crate::error::Result;
use crate::kernels::tanh;

pub(super) fn build(io: &LayerIo<'_>) -> Result<LayerPass> {
    let (r, n) = (io.replicas, io.batch * io.input.len());
    let fwd = tanh::prepare_forward(io.gpu, n, io.x.replicas(r), io.y.replicas(r))?;
    let bwd = match io.dx {
        Some(dx) => Some(tanh::prepare_backward(
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

pub(super) fn forward(x: &[f64]) -> Vec<f64> {
    tanh::reference_forward(x)
}

pub(super) fn backward(x: &[f64], dy: &[f64]) -> Vec<f64> {
    tanh::reference_backward(dy, x)
}
