//! LayerNorm over each token's features (`kernels::layernorm`), alone (a ViT's final `norm`)
//! or as a part of a ViT block. Training and evaluation compute the same thing.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use crate::error::Result;
use crate::gpu::GpuBuf;
use crate::kernels::layernorm::{self, LnIo, LnShape};
use crate::kernels::{Dispatch, View};
use crate::nn::layer::Act;

/// timm's ViTs build their norms with `partial(nn.LayerNorm, eps=1e-6)`.
pub(super) const EPS: f32 = 1e-6;

fn shape_eps(batch: usize, input: Act, eps: f32) -> LnShape {
    let Act::Seq(t, c) = input else {
        unreachable!("Model::new checks a LayerNorm's input is a sequence")
    };
    LnShape {
        rows: batch * t,
        c,
        eps,
    }
}

/// γ then β: the layer's two tensors lie side by side.
fn gamma_beta<'a>(v: &[View<'a>]) -> View<'a> {
    View {
        len: v[0].len + v[1].len,
        ..v[0]
    }
}

/// The forward over `x` into `io.y` and the backward from `io.dy` into `dx` (added to what is
/// there when `accumulate`), with the buffers only they use.
pub(super) fn passes(
    io: &LayerIo<'_>,
    x: &GpuBuf<f32>,
    dx: &GpuBuf<f32>,
    accumulate: bool,
) -> Result<(Dispatch, Dispatch, Vec<GpuBuf<f32>>)> {
    passes_eps(io, (x, dx), accumulate, EPS)
}

/// [`passes`] with the model's `eps`.
pub(super) fn passes_eps(
    io: &LayerIo<'_>,
    (x, dx): (&GpuBuf<f32>, &GpuBuf<f32>),
    accumulate: bool,
    eps: f32,
) -> Result<(Dispatch, Dispatch, Vec<GpuBuf<f32>>)> {
    let (r, s) = (io.replicas, shape_eps(io.batch, io.input, eps));
    let stats = io.zeros(s.stats_len(), "LayerNorm statistics")?;
    let part = io.shared_zeros(
        r * s.part_len().next_multiple_of(4),
        "LayerNorm parameter sums",
    )?;
    let ln = LnIo {
        x: x.replicas(r),
        y: io.y.replicas(r),
        stats: stats.replicas(r),
        gamma_beta: gamma_beta(&io.params),
    };
    let fwd = layernorm::prepare_forward(io.gpu, s, ln)?;
    let back = LnIo {
        y: dx.replicas(r),
        ..ln
    };
    let bwd = layernorm::prepare_backward(
        io.gpu,
        s,
        back,
        (io.dy.replicas(r), part.replicas(r)),
        gamma_beta(&io.grads),
        accumulate,
    )?;
    Ok((fwd, bwd, vec![stats, part]))
}

pub(super) fn build(io: &LayerIo<'_>) -> Result<LayerPass> {
    let dx = io
        .dx
        .expect("a LayerNorm follows the token sequence, so it is never the first layer");
    let (fwd, bwd, bufs) = passes(io, io.x, dx, false)?;
    let mut pass = LayerPass::new(fwd, Some(bwd));
    pass.scratch = bufs;
    Ok(pass)
}

pub(super) fn forward(io: &RefIo<'_>, x: &[f64]) -> Vec<f64> {
    forward_eps(io, x, EPS)
}

pub(super) fn backward(io: &RefIo<'_>, x: &[f64], dy: &[f64], grads: &mut [f64]) -> Vec<f64> {
    backward_eps(io, (x, dy), grads, EPS)
}

/// [`forward`] with the model's `eps`.
pub(super) fn forward_eps(io: &RefIo<'_>, x: &[f64], eps: f32) -> Vec<f64> {
    layernorm::reference_forward(shape_eps(io.batch, io.input, eps), x, io.params)
}

/// [`backward`] with the model's `eps`.
pub(super) fn backward_eps(
    io: &RefIo<'_>,
    (x, dy): (&[f64], &[f64]),
    grads: &mut [f64],
    eps: f32,
) -> Vec<f64> {
    let s = shape_eps(io.batch, io.input, eps);
    let (dx, g) = layernorm::reference_backward(s, x, io.params, dy);
    grads.copy_from_slice(&g);
    dx
}
