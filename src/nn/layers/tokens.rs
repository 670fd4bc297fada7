//! A ViT's token sequence around the patch embeddings (`Layer::Tokens`: class token and
//! position embeddings) and the class token's readout before the head (`Layer::ClassToken`),
//! both `kernels::tokens`.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use crate::error::Result;
use crate::kernels::View;
use crate::kernels::tokens::{self, TokShape};
use crate::nn::layer::Act;

fn shape(batch: usize, seq: Act) -> TokShape {
    let Act::Seq(tokens, width) = seq else {
        unreachable!("Model::new checks the shapes around the token sequence")
    };
    TokShape {
        batch,
        tokens,
        width,
    }
}

/// The shape of the sequence a `Tokens` layer makes from its image of patches.
fn made(batch: usize, patches: Act) -> TokShape {
    let Act::Image(width, h, w) = patches else {
        unreachable!("Model::new checks the token sequence's input is an image")
    };
    shape(batch, Act::Seq(h * w + 1, width))
}

/// `cls_token` then `pos_embed`: the layer's two tensors lie side by side.
fn both<'a>(v: &[View<'a>]) -> View<'a> {
    View {
        len: v[0].len + v[1].len,
        ..v[0]
    }
}

pub(super) fn build(io: &LayerIo<'_>) -> Result<LayerPass> {
    let (r, s) = (io.replicas, made(io.batch, io.input));
    let fwd = tokens::prepare_forward(
        io.gpu,
        s,
        io.x.replicas(r),
        io.y.replicas(r),
        both(&io.params),
    )?;
    let dx = io.dx.map(|dx| dx.replicas(r));
    let bwd = tokens::prepare_backward(io.gpu, s, io.dy.replicas(r), dx, both(&io.grads))?;
    Ok(LayerPass::new(fwd, Some(bwd)))
}

pub(super) fn forward(io: &RefIo<'_>, x: &[f64]) -> Vec<f64> {
    tokens::reference_forward(made(io.batch, io.input), x, io.params)
}

pub(super) fn backward(io: &RefIo<'_>, dy: &[f64], grads: &mut [f64]) -> Vec<f64> {
    let (dx, g) = tokens::reference_backward(made(io.batch, io.input), dy);
    grads.copy_from_slice(&g);
    dx
}

pub(super) fn build_pool(io: &LayerIo<'_>) -> Result<LayerPass> {
    let (r, s) = (io.replicas, shape(io.batch, io.input));
    let fwd = tokens::prepare_pool_forward(io.gpu, s, io.x.replicas(r), io.y.replicas(r))?;
    let dx = io
        .dx
        .expect("the class token's readout follows the blocks, so it is never the first layer");
    let bwd = tokens::prepare_pool_backward(io.gpu, s, io.dy.replicas(r), dx.replicas(r))?;
    Ok(LayerPass::new(fwd, Some(bwd)))
}

pub(super) fn pool_forward(io: &RefIo<'_>, x: &[f64]) -> Vec<f64> {
    tokens::reference_pool_forward(shape(io.batch, io.input), x)
}

pub(super) fn pool_backward(io: &RefIo<'_>, dy: &[f64]) -> Vec<f64> {
    tokens::reference_pool_backward(shape(io.batch, io.input), dy)
}
