//! A ResNet basic block as akamaster's `resnet.py` writes it:
//!
//! ```text
//! c1 = conv1(x)            3×3, the block's stride, no bias
//! b1 = relu(bn1(c1))
//! c2 = conv2(b1)           3×3, stride 1, no bias
//! b2 = bn2(c2)
//! y  = relu(b2 + S(x))     S: identity, or option A (subsample, zero-pad channels)
//! ```
//!
//! The backward runs the same layers in reverse over the block's own gradient buffers. bn2's
//! backward gates dy with the block's output (the ReLU after the add), and the shortcut adds
//! its share into dx after conv1's data gradient has written it.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use super::{conv, norm};
use crate::error::Result;
use crate::kernels::Dispatch;
use crate::kernels::conv::image::ROW_FLOATS;
use crate::kernels::residual::{self, Shortcut};
use crate::nn::layer::{Act, Layer};

fn shortcut(batch: usize, input: Act, layer: Layer) -> Shortcut {
    let (Act::Image(cin, hin, win), Layer::Block { cout, stride, .. }) = (input, layer) else {
        unreachable!("Model::new checks a block's input is an image")
    };
    Shortcut {
        n: batch,
        cin,
        hin,
        win,
        cout,
        stride,
    }
}

pub(super) fn build(io: &LayerIo<'_>, layer: Layer) -> Result<LayerPass> {
    let parts = layer.block_parts();
    let mid = parts[0].output(io.input)?;
    let r = io.replicas;
    // Each part's output and its gradient, whole rows per replica like the plan's own
    // activations, so the convolutions can copy them into images.
    let total = r * (io.batch * mid.len()).next_multiple_of(ROW_FLOATS);
    // c1, b1 and c2 are the block's own, kept from the forward for the backward. b2 serves
    // the forward only and the gradients the backward only, so blocks of a size share them.
    let own = |what| io.gpu.zeros::<f32>(total, what);
    let (c1, b1, c2) = (own("conv1")?, own("bn1")?, own("conv2")?);
    let shared = |what| io.shared_zeros(total, what);
    let b2 = shared("block bn2")?;
    let [dc1, db1, dc2] = ["block conv1 grad", "block bn1 grad", "block conv2 grad"].map(shared);
    let (dc1, db1, dc2) = (dc1?, db1?, dc2?);
    let spans = layer.spans();
    let part_io = |k: usize, input, bufs| io.part(input, bufs, spans[k].views.clone());
    let conv1 = conv::build(
        &part_io(0, io.input, (io.x, &c1, &dc1, io.dx)),
        conv::Spec::of(parts[0]),
    )?;
    let bn1 = norm::build(&part_io(1, mid, (&c1, &b1, &db1, Some(&dc1))), true)?;
    let conv2 = conv::build(
        &part_io(2, mid, (&b1, &c2, &dc2, Some(&db1))),
        conv::Spec::of(parts[2]),
    )?;
    let bn2_io = part_io(3, mid, (&c2, &b2, io.dy, Some(&dc2)));
    let bn2 = norm::build_masked(&bn2_io, false, Some(io.y))?;
    let s = shortcut(io.batch, io.input, layer);
    let (x, y) = (io.x.replicas(r), io.y.replicas(r));
    let add = residual::prepare_forward(io.gpu, s, true, (b2.replicas(r), x, y))?;
    let dx = io
        .dx
        .expect("a block follows a convolution, so it is never the first layer");
    let back = residual::prepare_backward(io.gpu, s, true, (io.dy.replicas(r), y, dx.replicas(r)))?;
    let passes = [conv1, bn1, conv2, bn2];
    let (fwd, eval) = LayerPass::chained_forward(&passes);
    let mut bwd = Dispatch::empty();
    for p in passes.iter().rev() {
        bwd = bwd.then(p.backward.clone().expect("every part has a backward"));
    }
    let mut pass = LayerPass::new(fwd.then(add.clone()), Some(bwd.then(back)));
    pass.forward_eval = Some(eval.then(add));
    pass.absorb(passes.into());
    pass.scratch.extend([c1, b1, c2, b2, dc1, db1, dc2]);
    Ok(pass)
}

/// Every intermediate of the f64 forward: c1, b1, c2, b2, y.
fn forward_all(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> [Vec<f64>; 5] {
    let parts = layer.block_parts();
    let mid = parts[0]
        .output(io.input)
        .expect("checked when the model was built");
    let c1 = conv::forward(&io.part_of(layer, 0, io.input), conv::Spec::of(parts[0]), x);
    let b1 = norm::forward(&io.part_of(layer, 1, mid), true, &c1);
    let c2 = conv::forward(&io.part_of(layer, 2, mid), conv::Spec::of(parts[2]), &b1);
    let b2 = norm::forward(&io.part_of(layer, 3, mid), false, &c2);
    let short = residual::reference_shortcut(shortcut(io.batch, io.input, layer), x);
    let y = b2
        .iter()
        .zip(&short)
        .map(|(a, b)| (a + b).max(0.0))
        .collect();
    [c1, b1, c2, b2, y]
}

/// The inputs of the block's two BatchNorms: c1 and c2.
pub(super) fn norm_inputs(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> Vec<Vec<f64>> {
    let [c1, _, c2, ..] = forward_all(io, layer, x);
    vec![c1, c2]
}

pub(super) fn forward(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> Vec<f64> {
    let [.., y] = forward_all(io, layer, x);
    y
}

pub(super) fn backward(
    io: &RefIo<'_>,
    layer: Layer,
    x: &[f64],
    dy: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    let parts = layer.block_parts();
    let mid = parts[0]
        .output(io.input)
        .expect("checked when the model was built");
    let [c1, b1, c2, _, y] = forward_all(io, layer, x);
    let r: Vec<_> = layer.spans().into_iter().map(|s| s.params).collect();
    let [r0, r1, r2, r3] = [0, 1, 2, 3].map(|k| r[k].clone());
    let part = |k, input| io.part_of(layer, k, input);
    let dc2 = norm::backward(&part(3, mid), &c2, dy, Some(&y), &mut grads[r3]);
    let spec2 = conv::Spec::of(parts[2]);
    let db1 = conv::backward(&part(2, mid), spec2, &b1, &dc2, &mut grads[r2]);
    let dc1 = norm::backward(&part(1, mid), &c1, &db1, Some(&b1), &mut grads[r1]);
    let spec1 = conv::Spec::of(parts[0]);
    let mut dx = conv::backward(&part(0, io.input), spec1, x, &dc1, &mut grads[r0]);
    let gated: Vec<f64> = dy
        .iter()
        .zip(&y)
        .map(|(&d, &y)| if y > 0.0 { d } else { 0.0 })
        .collect();
    let short = residual::reference_shortcut_backward(shortcut(io.batch, io.input, layer), &gated);
    for (d, s) in dx.iter_mut().zip(short) {
        *d += s;
    }
    dx
}
