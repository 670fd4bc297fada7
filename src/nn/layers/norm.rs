//! BatchNorm2d over pixel-major images, with the ReLU after it fused (`kernels::batchnorm`).
//! Training normalises with the batch's own statistics, which the forward leaves in the
//! layer's statistics buffer for the backward (and for the running statistics' update).

use super::super::pass::{LayerIo, LayerPass, NormBufs, RefIo};
use crate::error::Result;
use crate::gpu::GpuBuf;
use crate::kernels::View;
use crate::kernels::batchnorm::{self, BnIo, BnShape, Rows, Window};
use crate::nn::layer::Act;

pub(super) fn shape(batch: usize, input: Act) -> BnShape {
    let Act::Image(c, h, w) = input else {
        unreachable!("Model::new checks a BatchNorm's input is an image")
    };
    BnShape {
        m: batch * h * w,
        c,
    }
}

/// γ then β: the layer's two tensors lie side by side.
fn gamma_beta<'a>(v: &[View<'a>]) -> View<'a> {
    View {
        len: v[0].len + v[1].len,
        ..v[0]
    }
}

/// The layer's passes. `mask` gates the backward's dy where it is not the layer's own ReLU
/// output (a ReLU after a residual add); without one, a fused ReLU gates with `io.y`.
pub(super) fn build_masked(
    io: &LayerIo<'_>,
    relu: bool,
    mask: Option<&GpuBuf<f32>>,
) -> Result<LayerPass> {
    build_rows(io, relu, mask, None)
}

/// A BatchNorm with its ReLU whose input is `window` of `io.x`'s rows and whose backward adds
/// its input gradient into the same window of `io.dx` (a dense block's bn1, see `super::dense`).
pub(super) fn build_windowed(io: &LayerIo<'_>, window: Window) -> Result<LayerPass> {
    build_rows(io, true, None, Some(window))
}

fn build_rows(
    io: &LayerIo<'_>,
    relu: bool,
    mask: Option<&GpuBuf<f32>>,
    window: Option<Window>,
) -> Result<LayerPass> {
    let (r, s) = (io.replicas, shape(io.batch, io.input));
    let part = io.zeros(s.part_len(), "BatchNorm partial sums")?;
    let stats = io.zeros(s.stats_len(), "BatchNorm statistics")?;
    let bn = BnIo {
        x: io.x.replicas(r),
        y: io.y.replicas(r),
        part: part.replicas(r),
        stats: stats.replicas(r),
        gamma_beta: gamma_beta(&io.params),
        rows: Rows {
            x: window,
            ..Rows::default()
        },
    };
    let fwd = batchnorm::prepare_forward(io.gpu, s, relu, bn)?;
    let dx = io
        .dx
        .expect("a BatchNorm follows a convolution, so it is never the first layer");
    let mask = mask.or(relu.then_some(io.y)).map(|m| m.replicas(r));
    let dgb = gamma_beta(&io.grads);
    let bn = BnIo {
        y: dx.replicas(r),
        rows: Rows {
            x: window,
            y: window,
            accumulate: window.is_some(),
        },
        ..bn
    };
    let bwd = batchnorm::prepare_backward(io.gpu, s, bn, (io.dy.replicas(r), mask), dgb)?;
    let eval = io.zeros(s.stats_len(), "BatchNorm evaluation statistics")?;
    let eval_io = BnIo {
        y: io.y.replicas(r),
        stats: eval.replicas(r),
        rows: Rows {
            x: window,
            ..Rows::default()
        },
        ..bn
    };
    let mut pass = LayerPass::new(fwd, Some(bwd));
    pass.forward_eval = Some(batchnorm::prepare_apply(io.gpu, s, relu, eval_io)?);
    pass.norms.push(NormBufs {
        c: s.c,
        stride: stats.len / r,
        stats,
        eval,
    });
    pass.scratch.push(part);
    Ok(pass)
}

pub(super) fn build(io: &LayerIo<'_>, relu: bool) -> Result<LayerPass> {
    build_masked(io, relu, None)
}

/// Training normalises with the batch's statistics, evaluation with the running ones.
pub(super) fn forward(io: &RefIo<'_>, relu: bool, x: &[f64]) -> Vec<f64> {
    let s = shape(io.batch, io.input);
    match io.state {
        Some(running) => batchnorm::reference_eval(s, x, io.params, running, relu),
        None => batchnorm::reference_forward(s, x, io.params, relu).0,
    }
}

/// The backward with dy gated by `mask > 0` where given.
pub(super) fn backward(
    io: &RefIo<'_>,
    x: &[f64],
    dy: &[f64],
    mask: Option<&[f64]>,
    grads: &mut [f64],
) -> Vec<f64> {
    let s = shape(io.batch, io.input);
    let (dx, g) = batchnorm::reference_backward(s, x, io.params, dy, mask);
    grads.copy_from_slice(&g);
    dx
}
