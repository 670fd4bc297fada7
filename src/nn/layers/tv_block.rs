//! A residual block of torchvision's ResNets, `BasicBlock` or `Bottleneck`, as
//! `torchvision/models/resnet.py` writes them:
//!
//! ```text
//! basic                                  bottleneck
//! c1 = conv1(x)   3×3, the stride        c1 = conv1(x)   1×1
//! b1 = relu(bn1(c1))                     b1 = relu(bn1(c1))
//! c2 = conv2(b1)  3×3                    c2 = conv2(b1)  3×3, the stride
//! b2 = bn2(c2)                           b2 = relu(bn2(c2))
//!                                        c3 = conv3(b2)  1×1 to 4·width
//!                                        b3 = bn3(c3)
//! y  = relu(b_last + S(x))   S: identity, or downsample.1(downsample.0(x)), 1×1 with the stride
//! ```
//!
//! The backward runs the main path's parts in reverse over the block's own buffers; its last
//! BatchNorm (and the downsample's) gates dy with the block's output, the ReLU after the add.
//! conv1's data gradient writes dx, and the shortcut's share is added into it last: the
//! identity's gated dy, or the downsample convolution's data gradient.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use super::wide::identity;
use super::{conv, norm};
use crate::error::Result;
use crate::kernels::conv::image::ROW_FLOATS;
use crate::kernels::{Dispatch, residual};
use crate::nn::layer::{Act, Layer};

/// Shared buffers of the main path's gradients, by pair: what conv k's output gradient and
/// bn k's output gradient are called (distinct names, so no two roles share one buffer).
const CONV_GRADS: [&str; 3] = [
    "tv block conv1 grad",
    "tv block conv2 grad",
    "tv block conv3 grad",
];
const NORM_GRADS: [&str; 2] = ["tv block bn1 grad", "tv block bn2 grad"];

/// The number of main-path parts (conv and BatchNorm pairs, so 4 or 6); the downsample's two
/// follow them.
fn main_len(layer: Layer) -> usize {
    let parts = layer.tv_parts();
    parts
        .iter()
        .take_while(|(n, _)| !n.starts_with("downsample"))
        .count()
}

pub(super) fn build(io: &LayerIo<'_>, layer: Layer) -> Result<LayerPass> {
    let parts = layer.tv_parts();
    let (main, pairs) = (main_len(layer), main_len(layer) / 2);
    let products = layer.composite_products(io.input);
    let out = layer.output(io.input)?;
    let r = io.replicas;
    let total = |shape: Act| r * (io.batch * shape.len()).next_multiple_of(ROW_FLOATS);
    let spans = layer.spans();
    let part_io = |k: usize, input, bufs| io.part(input, bufs, spans[k].views.clone());
    let dx = io
        .dx
        .expect("a torchvision block follows the stem, so it is never the first layer");
    // Each convolution's output is kept for its BatchNorm's backward, and each BatchNorm-ReLU's
    // output for the next convolution's weight gradient. The last BatchNorm's output (and the
    // downsample's) serve the forward only, and the gradients the backward only, so blocks of
    // a size share them.
    let mids = (0..pairs)
        .map(|j| parts[2 * j].1.output(products[j].1))
        .collect::<Result<Vec<Act>>>()?;
    let own = |shape, what| io.gpu.zeros::<f32>(total(shape), what);
    let convs = mids
        .iter()
        .map(|&m| own(m, "tv block conv output"))
        .collect::<Result<Vec<_>>>()?;
    let conv_grads = (0..pairs)
        .map(|j| io.shared_zeros(total(mids[j]), CONV_GRADS[j]))
        .collect::<Result<Vec<_>>>()?;
    let norms = mids[..pairs - 1]
        .iter()
        .map(|&m| own(m, "tv block norm output"))
        .collect::<Result<Vec<_>>>()?;
    let norm_grads = (0..pairs - 1)
        .map(|j| io.shared_zeros(total(mids[j]), NORM_GRADS[j]))
        .collect::<Result<Vec<_>>>()?;
    let last = io.shared_zeros(total(out), "tv block sum")?;
    let mut passes = Vec::with_capacity(parts.len());
    for j in 0..pairs {
        let (_, at) = products[j];
        let (x, dxj) = match j {
            0 => (io.x, Some(dx)),
            _ => (&norms[j - 1], Some(&norm_grads[j - 1])),
        };
        let (c, dc) = (&convs[j], &conv_grads[j]);
        passes.push(conv::build(
            &part_io(2 * j, at, (x, c, dc, dxj)),
            conv::Spec::of(parts[2 * j].1),
        )?);
        passes.push(if j + 1 == pairs {
            let bn_io = part_io(2 * j + 1, mids[j], (c, &last, io.dy, Some(dc)));
            norm::build_masked(&bn_io, false, Some(io.y))?
        } else {
            let (b, db) = (&norms[j], &norm_grads[j]);
            norm::build(&part_io(2 * j + 1, mids[j], (c, b, db, Some(dc))), true)?
        });
    }
    let mut keep = Vec::new();
    let (y, dy) = (io.y.replicas(r), io.dy.replicas(r));
    let (skip, merge) = if parts.len() > main {
        // y = relu(b_last + bn_d(conv_d(x))); conv_d's data gradient is added into dx.
        let cd = own(out, "tv block downsample conv")?;
        let bd = io.shared_zeros(total(out), "tv block downsample out")?;
        let dcd = io.shared_zeros(total(out), "tv block downsample grad")?;
        let dxd = io.shared_zeros(total(io.input), "tv block downsample input grad")?;
        passes.push(conv::build(
            &part_io(main, io.input, (io.x, &cd, &dcd, Some(&dxd))),
            conv::Spec::of(parts[main].1),
        )?);
        let bn_io = part_io(main + 1, out, (&cd, &bd, io.dy, Some(&dcd)));
        passes.push(norm::build_masked(&bn_io, false, Some(io.y))?);
        let (g, acc) = (dxd.replicas(r), dx.replicas(r));
        let s = identity(io.batch, io.input);
        let merge = residual::prepare_backward(io.gpu, s, false, (g, g, acc))?;
        keep.extend([cd, dcd, dxd]);
        (bd, merge)
    } else {
        let s = identity(io.batch, out);
        let merge = residual::prepare_backward(io.gpu, s, true, (dy, y, dx.replicas(r)))?;
        (io.x.clone(), merge)
    };
    keep.extend([convs, conv_grads, norms, norm_grads].concat());
    let s = identity(io.batch, out);
    let add = residual::prepare_forward(io.gpu, s, true, (last.replicas(r), skip.replicas(r), y))?;
    let (fwd, eval) = LayerPass::chained_forward(&passes);
    // The main path in reverse, then the downsample's in reverse, then the shortcut's share.
    let mut bwd = Dispatch::empty();
    let back = |p: &LayerPass| p.backward.clone().expect("every part has a backward");
    for p in passes[..main].iter().rev() {
        bwd = bwd.then(back(p));
    }
    for p in passes[main..].iter().rev() {
        bwd = bwd.then(back(p));
    }
    let mut pass = LayerPass::new(fwd.then(add.clone()), Some(bwd.then(merge)));
    pass.forward_eval = Some(eval.then(add));
    pass.absorb(passes);
    pass.scratch.extend(keep);
    pass.scratch.extend([last, skip]);
    Ok(pass)
}

/// Every part's f64 output in `tv_parts` order (the downsample's from x), then y.
fn forward_all(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> (Vec<Vec<f64>>, Vec<f64>) {
    let parts = layer.tv_parts();
    let main = main_len(layer);
    let mut outs: Vec<Vec<f64>> = Vec::with_capacity(parts.len());
    let mut at = io.input;
    for (k, &(_, part)) in parts.iter().enumerate() {
        if k == main {
            at = io.input;
        }
        let input: &[f64] = if k == 0 || k == main { x } else { &outs[k - 1] };
        let part_io = io.part_of(layer, k, at);
        let v = match part {
            Layer::Conv2d { .. } => conv::forward(&part_io, conv::Spec::of(part), input),
            Layer::BatchNorm { relu, .. } => norm::forward(&part_io, relu, input),
            _ => unreachable!("a torchvision block has convolutions and BatchNorms"),
        };
        at = part.output(at).expect("checked when the model was built");
        outs.push(v);
    }
    let skip = if parts.len() > main {
        &outs[main + 1]
    } else {
        x
    };
    let y = outs[main - 1]
        .iter()
        .zip(skip)
        .map(|(a, b)| (a + b).max(0.0))
        .collect();
    (outs, y)
}

pub(super) fn forward(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> Vec<f64> {
    forward_all(io, layer, x).1
}

/// The inputs of the block's BatchNorms, in the order of its state tensors: each
/// convolution's output.
pub(super) fn norm_inputs(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> Vec<Vec<f64>> {
    let (outs, _) = forward_all(io, layer, x);
    outs.into_iter().step_by(2).collect()
}

pub(super) fn backward(
    io: &RefIo<'_>,
    layer: Layer,
    x: &[f64],
    dy: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    let parts = layer.tv_parts();
    let main = main_len(layer);
    let (outs, y) = forward_all(io, layer, x);
    let r: Vec<_> = layer.spans().into_iter().map(|s| s.params).collect();
    let inputs: Vec<Act> = layer
        .composite_products(io.input)
        .into_iter()
        .flat_map(|(conv, at)| {
            [
                at,
                conv.output(at).expect("checked when the model was built"),
            ]
        })
        .collect();
    // The gradient at the add, through the ReLU after it.
    let g: Vec<f64> = dy
        .iter()
        .zip(&y)
        .map(|(&d, &y)| if y > 0.0 { d } else { 0.0 })
        .collect();
    // One part's backward: its input gradient from its output gradient `d`.
    let mut back = |k: usize, d: &[f64]| {
        let (_, part) = parts[k];
        let part_io = io.part_of(layer, k, inputs[k]);
        let input: &[f64] = if k == 0 || k == main { x } else { &outs[k - 1] };
        let grads = &mut grads[r[k].clone()];
        match part {
            Layer::Conv2d { .. } => conv::backward(&part_io, conv::Spec::of(part), input, d, grads),
            Layer::BatchNorm { relu, .. } => {
                norm::backward(&part_io, input, d, relu.then_some(&outs[k][..]), grads)
            }
            _ => unreachable!("a torchvision block has convolutions and BatchNorms"),
        }
    };
    let mut dx = (0..main).rev().fold(g.clone(), |d, k| back(k, &d));
    let skip = if parts.len() > main {
        let dd = back(main + 1, &g);
        back(main, &dd)
    } else {
        g
    };
    dx.iter_mut().zip(skip).for_each(|(a, b)| *a += b);
    dx
}
