//! Each layer kind's forward and backward, written once for the GPU (prepared dispatches over
//! a plan's buffers) and once in f64 from the kernels' own references: one file per kind, and
//! here the dispatch on [`Layer`].

// The ResNets', VGGs', DenseNets' and BERT's layers are native only: the browser pages train
// the MLP, the CNN and small ViTs, and these would take the page's module past its 1 MB budget (the
// ViT's layers fit: they added 80 KB, and the module, built at opt-level "z", measured 935 KB).
#[cfg(not(target_arch = "wasm32"))]
mod avgpool;
#[cfg(not(target_arch = "wasm32"))]
mod bert;
#[cfg(not(target_arch = "wasm32"))]
mod block;
mod conv;
#[cfg(not(target_arch = "wasm32"))]
mod dense;
#[cfg(not(target_arch = "wasm32"))]
mod dropout;
mod flatten;
mod layernorm;
mod linear;
#[cfg(not(target_arch = "wasm32"))]
mod norm;
mod pool;
mod relu;
#[cfg(not(target_arch = "wasm32"))]
mod tanh;
mod tokens;
#[cfg(not(target_arch = "wasm32"))]
mod tv_block;
mod vit_block;
#[cfg(not(target_arch = "wasm32"))]
mod wide;

use super::layer::Layer;
use super::pass::{LayerIo, LayerPass, RefIo};
use crate::error::Result;

pub(crate) use conv::implicit_rows;

/// Prepare `layer`'s forward and backward in one plan.
pub(crate) fn build(layer: Layer, io: &LayerIo<'_>) -> Result<LayerPass> {
    match layer {
        Layer::Linear { inp, out } => linear::build(io, inp, out, false),
        Layer::LinearRelu { inp, out } => linear::build(io, inp, out, true),
        Layer::Conv2d { .. } => conv::build(io, conv::Spec::of(layer)),
        Layer::Relu => relu::build(io),
        Layer::MaxPool2 => pool::build(io, false),
        Layer::ReluMaxPool2 => pool::build(io, true),
        Layer::MaxPool { k, stride, pad } => pool::build_window(io, (k, stride, pad)),
        Layer::Flatten => flatten::build(io),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::BatchNorm { relu, .. } => norm::build(io, relu),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::Block { .. } => block::build(io, layer),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::TvBlock { .. } => tv_block::build(io, layer),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::WideUnit { .. } => wide::build(io, layer),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::DenseBlock { .. } => dense::build(io, layer),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::GlobalAvgPool => avgpool::build(io),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::AvgPool2 => avgpool::build_window(io),
        Layer::LayerNorm { .. } => layernorm::build(io),
        Layer::Tokens { .. } => tokens::build(io),
        Layer::VitBlock { .. } => vit_block::build(io, layer),
        Layer::ClassToken => tokens::build_pool(io),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::BertEmbeddings { .. } => bert::build_embeddings(io, layer),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::BertLayer { .. } => bert::build_layer(io, layer),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::Tanh => tanh::build(io),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::Dropout { rate } => dropout::build(io, rate),
        #[cfg(target_arch = "wasm32")]
        Layer::BatchNorm { .. }
        | Layer::Block { .. }
        | Layer::TvBlock { .. }
        | Layer::WideUnit { .. }
        | Layer::DenseBlock { .. }
        | Layer::GlobalAvgPool
        | Layer::AvgPool2
        | Layer::BertEmbeddings { .. }
        | Layer::BertLayer { .. }
        | Layer::Tanh
        | Layer::Dropout { .. } => Err(crate::error::Error::Invalid(format!(
            "{layer:?} runs natively only: the browser build leaves the ResNets', VGGs', \
             DenseNets' and BERT's layers out"
        ))),
    }
}

/// `layer`'s output on `x`, in f64.
pub(crate) fn forward(layer: Layer, io: &RefIo<'_>, x: &[f64]) -> Vec<f64> {
    match layer {
        Layer::Linear { inp, out } => linear::forward(io, inp, out, x),
        Layer::LinearRelu { inp, out } => relu::forward(io, &linear::forward(io, inp, out, x)),
        Layer::Conv2d { .. } => conv::forward(io, conv::Spec::of(layer), x),
        Layer::Relu => relu::forward(io, x),
        Layer::MaxPool2 => pool::forward(io, false, x),
        Layer::ReluMaxPool2 => pool::forward(io, true, x),
        Layer::MaxPool { k, stride, pad } => pool::window_forward(io, (k, stride, pad), x),
        Layer::Flatten => flatten::forward(io, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::BatchNorm { relu, .. } => norm::forward(io, relu, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::Block { .. } => block::forward(io, layer, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::TvBlock { .. } => tv_block::forward(io, layer, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::WideUnit { .. } => wide::forward(io, layer, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::DenseBlock { .. } => dense::forward(io, layer, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::GlobalAvgPool => avgpool::forward(io, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::AvgPool2 => avgpool::window_forward(io, x),
        Layer::LayerNorm { .. } => layernorm::forward(io, x),
        Layer::Tokens { .. } => tokens::forward(io, x),
        Layer::VitBlock { .. } => vit_block::forward(io, layer, x),
        Layer::ClassToken => tokens::pool_forward(io, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::BertEmbeddings { .. } => bert::embeddings_forward(io, layer, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::BertLayer { .. } => bert::layer_forward(io, layer, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::Tanh => tanh::forward(x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::Dropout { rate } => dropout::forward(io, rate, x),
        #[cfg(target_arch = "wasm32")]
        Layer::BatchNorm { .. }
        | Layer::Block { .. }
        | Layer::TvBlock { .. }
        | Layer::WideUnit { .. }
        | Layer::DenseBlock { .. }
        | Layer::GlobalAvgPool
        | Layer::AvgPool2
        | Layer::BertEmbeddings { .. }
        | Layer::BertLayer { .. }
        | Layer::Tanh
        | Layer::Dropout { .. } => {
            unreachable!("the browser build leaves the ResNets' layers out, {layer:?} too")
        }
    }
}

/// `layer`'s backward in f64: the gradient of its tensors into `grads` (its slice of the
/// gradient vector) and the gradient with respect to its input `x` (`y` being its output).
pub(crate) fn backward(
    layer: Layer,
    io: &RefIo<'_>,
    (x, y): (&[f64], &[f64]),
    dy: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    match layer {
        Layer::Linear { inp, out } => linear::backward(io, (inp, out), x, dy, grads),
        Layer::LinearRelu { inp, out } => {
            let dz = relu::backward(y, dy);
            linear::backward(io, (inp, out), x, &dz, grads)
        }
        Layer::Conv2d { .. } => conv::backward(io, conv::Spec::of(layer), x, dy, grads),
        Layer::Relu => relu::backward(y, dy),
        Layer::MaxPool2 => pool::backward(io, false, x, dy),
        Layer::ReluMaxPool2 => pool::backward(io, true, x, dy),
        Layer::MaxPool { k, stride, pad } => pool::window_backward(io, (k, stride, pad), x, dy),
        Layer::Flatten => flatten::backward(io, dy),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::BatchNorm { relu, .. } => norm::backward(io, x, dy, relu.then_some(y), grads),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::Block { .. } => block::backward(io, layer, x, dy, grads),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::TvBlock { .. } => tv_block::backward(io, layer, x, dy, grads),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::WideUnit { .. } => wide::backward(io, layer, x, dy, grads),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::DenseBlock { .. } => dense::backward(io, layer, x, dy, grads),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::GlobalAvgPool => avgpool::backward(io, dy),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::AvgPool2 => avgpool::window_backward(io, dy),
        Layer::LayerNorm { .. } => layernorm::backward(io, x, dy, grads),
        Layer::Tokens { .. } => tokens::backward(io, dy, grads),
        Layer::VitBlock { .. } => vit_block::backward(io, layer, x, dy, grads),
        Layer::ClassToken => tokens::pool_backward(io, dy),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::BertEmbeddings { .. } => {
            bert::embeddings_backward(io, layer, x, dy, grads);
            Vec::new()
        }
        #[cfg(not(target_arch = "wasm32"))]
        Layer::BertLayer { .. } => bert::layer_backward(io, layer, x, dy, grads),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::Tanh => tanh::backward(x, dy),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::Dropout { rate } => dropout::backward(io, rate, dy),
        #[cfg(target_arch = "wasm32")]
        Layer::BatchNorm { .. }
        | Layer::Block { .. }
        | Layer::TvBlock { .. }
        | Layer::WideUnit { .. }
        | Layer::DenseBlock { .. }
        | Layer::GlobalAvgPool
        | Layer::AvgPool2
        | Layer::BertEmbeddings { .. }
        | Layer::BertLayer { .. }
        | Layer::Tanh
        | Layer::Dropout { .. } => {
            unreachable!("the browser build leaves the ResNets' layers out, {layer:?} too")
        }
    }
}

/// The inputs of `layer`'s BatchNorms on `x` in f64, in the order of its state tensors (a
/// block's two; none for layers without BatchNorm).
pub(crate) fn norm_inputs(layer: Layer, io: &RefIo<'_>, x: &[f64]) -> Vec<Vec<f64>> {
    match layer {
        Layer::BatchNorm { .. } => vec![x.to_vec()],
        #[cfg(not(target_arch = "wasm32"))]
        Layer::Block { .. } => block::norm_inputs(io, layer, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::TvBlock { .. } => tv_block::norm_inputs(io, layer, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::WideUnit { .. } => wide::norm_inputs(io, layer, x),
        #[cfg(not(target_arch = "wasm32"))]
        Layer::DenseBlock { .. } => dense::norm_inputs(io, layer, x),
        _ => {
            let _ = io;
            Vec::new()
        }
    }
}
