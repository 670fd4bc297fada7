//! A pre-activation wide-ResNet unit, as davda54's `wide_res_net.py` writes it:
//!
//! ```text
//! basic unit                         downsample unit
//! a  = relu(bn0(x))                  a  = relu(bn0(x))
//! c1 = conv1(a)                      c1 = conv1(a)          3×3, the stride
//! b1 = relu(bn1(c1))                 b1 = relu(bn1(c1))
//! c2 = conv2(b1)                     c2 = conv2(b1)         3×3
//! y  = x + c2                        y  = c2 + down(a)      down: 1×1, the stride
//! ```
//!
//! With `--dropout`, training drops b1's values before conv2 (`add_dropout`).
//!
//! The backward runs the parts in reverse over the unit's own buffers. Where two paths meet
//! (the identity beside the block, or the 1×1 convolution beside conv1 at a) the second
//! path's gradient is added into the first's with the residual kernel's identity shortcut.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use super::{conv, norm};
use crate::error::Result;
use crate::gpu::GpuBuf;
use crate::kernels::conv::image::ROW_FLOATS;
use crate::kernels::residual::{self, Shortcut};
use crate::kernels::{Dispatch, dropout};
use crate::nn::layer::{Act, Layer};

/// The identity shortcut over `shape`: what adds one gradient into another (the torchvision
/// blocks use it too).
pub(super) fn identity(batch: usize, shape: Act) -> Shortcut {
    let Act::Image(c, h, w) = shape else {
        unreachable!("a wide unit works on images")
    };
    Shortcut {
        n: batch,
        cin: c,
        hin: h,
        win: w,
        cout: c,
        stride: 1,
    }
}

pub(super) fn build(io: &LayerIo<'_>, layer: Layer) -> Result<LayerPass> {
    let parts = layer.wide_parts();
    let down = parts.len() == 5;
    let out = layer.output(io.input)?;
    let r = io.replicas;
    let total = |shape: Act| r * (io.batch * shape.len()).next_multiple_of(ROW_FLOATS);
    // a, c1 and b1 are the unit's own, kept from the forward for the backward. c2 (and the
    // downsample's output) serve the forward only and the gradients the backward only, so
    // units of a size share them.
    let own = |shape, what| io.gpu.zeros::<f32>(total(shape), what);
    let buf = |shape, what| io.shared_zeros(total(shape), what);
    let (a, c1, b1) = (own(io.input, "unit a")?, own(out, "c1")?, own(out, "b1")?);
    let da = buf(io.input, "unit a grad")?;
    let [c2, db1, dc1] = ["unit c2", "unit b1 grad", "unit c1 grad"].map(|w| buf(out, w));
    let (c2, db1, dc1) = (c2?, db1?, dc1?);
    let spans = layer.spans();
    let part_io = |k: usize, input, bufs| io.part(input, bufs, spans[k].views.clone());
    let dx = io
        .dx
        .expect("a wide unit follows a convolution, so it is never the first layer");
    let spec = |k: usize| conv::Spec::of(parts[k].1);
    let bn0 = norm::build(&part_io(0, io.input, (io.x, &a, &da, Some(dx))), true)?;
    let conv1 = conv::build(&part_io(1, io.input, (&a, &c1, &dc1, Some(&da))), spec(1))?;
    let mut bn1 = norm::build(&part_io(2, out, (&c1, &b1, &db1, Some(&dc1))), true)?;
    if let Layer::WideUnit { dropout, .. } = layer
        && dropout > 0.0
    {
        add_dropout(io, &mut bn1, (&b1, &db1), (out, dropout))?;
    }
    let mut passes = vec![bn0, conv1, bn1];
    let (y, dy) = (io.y.replicas(r), io.dy.replicas(r));
    let mut extra = Vec::new();
    let (add, merge) = if down {
        // y = c2 + down(a); a's gradient from the 1×1 convolution is added into conv1's.
        let d = buf(out, "unit downsample")?;
        let da2 = buf(io.input, "unit downsample grad")?;
        passes.push(conv::build(
            &part_io(3, out, (&b1, &c2, io.dy, Some(&db1))),
            spec(3),
        )?);
        passes.push(conv::build(
            &part_io(4, io.input, (&a, &d, io.dy, Some(&da2))),
            spec(4),
        )?);
        let add = residual::prepare_forward(
            io.gpu,
            identity(io.batch, out),
            false,
            (c2.replicas(r), d.replicas(r), y),
        )?;
        let (g, acc) = (da2.replicas(r), da.replicas(r));
        let merge =
            residual::prepare_backward(io.gpu, identity(io.batch, io.input), false, (g, g, acc))?;
        extra.extend([d, da2]);
        (add, merge)
    } else {
        passes.push(conv::build(
            &part_io(3, out, (&b1, &c2, io.dy, Some(&db1))),
            spec(3),
        )?);
        let add = residual::prepare_forward(
            io.gpu,
            identity(io.batch, out),
            false,
            (c2.replicas(r), io.x.replicas(r), y),
        )?;
        let merge = residual::prepare_backward(
            io.gpu,
            identity(io.batch, out),
            false,
            (dy, y, dx.replicas(r)),
        )?;
        (add, merge)
    };
    assemble(
        passes,
        (add, merge),
        down,
        [vec![a, da, c1, b1, c2, db1, dc1], extra].concat(),
    )
}

/// Dropout at `rate` on bn1's output (of shape `out`), joined to bn1's pass: the forward
/// scales b1 in place after bn1 writes it, so conv2 stages the dropped activations; the
/// backward scales db1 (conv2's data gradient) in place before bn1's backward reads it, whose
/// ReLU mask from the dropped b1 differs only where db1 is 0. Evaluation runs bn1 alone.
fn add_dropout(
    io: &LayerIo<'_>,
    bn1: &mut LayerPass,
    (b1, db1): (&GpuBuf<f32>, &GpuBuf<f32>),
    (out, rate): (Act, f32),
) -> Result<()> {
    let r = io.replicas;
    let shape = (io.batch * out.len(), rate, io.site as u32);
    let keys = io.dropout_keys.replicas(r);
    let drop = |buf: &GpuBuf<f32>| dropout::prepare(io.gpu, shape, buf.replicas(r), keys);
    if bn1.forward_eval.is_none() {
        bn1.forward_eval = Some(bn1.forward.clone());
    }
    bn1.forward = bn1.forward.clone().then(drop(b1)?);
    let back = bn1.backward.take().expect("a BatchNorm has a backward");
    bn1.backward = Some(drop(db1)?.then(back));
    Ok(())
}

/// b1 as training drops it (`kernels::dropout`'s reference); evaluation, which normalises
/// with the running statistics in `io.state`, keeps every value.
fn dropped(io: &RefIo<'_>, layer: Layer, b1: Vec<f64>) -> Vec<f64> {
    match layer {
        Layer::WideUnit { dropout, .. } if dropout > 0.0 && io.state.is_none() => {
            let (key, site) = io.dropout;
            dropout::reference(&b1, key, site as u32, dropout)
        }
        _ => b1,
    }
}

/// The unit's pass from its parts' (in `wide_parts` order): forward in order then the add;
/// backward: conv2 (and the 1×1 convolution), bn1, conv1, then for a downsample unit the
/// merge at a before bn0, for a basic unit bn0 then the identity's share.
fn assemble(
    passes: Vec<LayerPass>,
    (add, merge): (Dispatch, Dispatch),
    down: bool,
    buffers: Vec<GpuBuf<f32>>,
) -> Result<LayerPass> {
    let (fwd, eval) = LayerPass::chained_forward(&passes);
    let back = |k: usize| {
        passes[k]
            .backward
            .clone()
            .expect("every part has a backward")
    };
    let mut bwd = back(3);
    if down {
        bwd = bwd.then(back(4));
    }
    bwd = bwd.then(back(2)).then(back(1));
    bwd = if down {
        bwd.then(merge).then(back(0))
    } else {
        bwd.then(back(0)).then(merge)
    };
    let mut pass = LayerPass::new(fwd.then(add.clone()), Some(bwd));
    pass.forward_eval = Some(eval.then(add));
    pass.absorb(passes);
    pass.scratch.extend(buffers);
    Ok(pass)
}

/// Every intermediate of the f64 forward: a, c1, b1, c2, the 1×1 convolution's output (empty
/// for a basic unit), y.
fn forward_all(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> [Vec<f64>; 6] {
    let parts = layer.wide_parts();
    let out = layer
        .output(io.input)
        .expect("checked when the model was built");
    let spec = |k: usize| conv::Spec::of(parts[k].1);
    let a = norm::forward(&io.part_of(layer, 0, io.input), true, x);
    let c1 = conv::forward(&io.part_of(layer, 1, io.input), spec(1), &a);
    let b1 = dropped(
        io,
        layer,
        norm::forward(&io.part_of(layer, 2, out), true, &c1),
    );
    let c2 = conv::forward(&io.part_of(layer, 3, out), spec(3), &b1);
    let (d, skip) = if parts.len() == 5 {
        let d = conv::forward(&io.part_of(layer, 4, io.input), spec(4), &a);
        (d.clone(), d)
    } else {
        (Vec::new(), x.to_vec())
    };
    let y = c2.iter().zip(&skip).map(|(a, b)| a + b).collect();
    [a, c1, b1, c2, d, y]
}

pub(super) fn forward(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> Vec<f64> {
    let [.., y] = forward_all(io, layer, x);
    y
}

/// The inputs of the unit's two BatchNorms: x and c1.
pub(super) fn norm_inputs(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> Vec<Vec<f64>> {
    let [_, c1, ..] = forward_all(io, layer, x);
    vec![x.to_vec(), c1]
}

pub(super) fn backward(
    io: &RefIo<'_>,
    layer: Layer,
    x: &[f64],
    dy: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    let parts = layer.wide_parts();
    let out = layer
        .output(io.input)
        .expect("checked when the model was built");
    let r: Vec<_> = layer.spans().into_iter().map(|s| s.params).collect();
    let spec = |k: usize| conv::Spec::of(parts[k].1);
    let part = |k, input| io.part_of(layer, k, input);
    let [a, c1, b1, ..] = forward_all(io, layer, x);
    let db1 = conv::backward(&part(3, out), spec(3), &b1, dy, &mut grads[r[3].clone()]);
    let db1 = dropped(io, layer, db1);
    let dc1 = norm::backward(
        &part(2, out),
        &c1,
        &db1,
        Some(&b1),
        &mut grads[r[2].clone()],
    );
    let mut da = conv::backward(
        &part(1, io.input),
        spec(1),
        &a,
        &dc1,
        &mut grads[r[1].clone()],
    );
    if parts.len() == 5 {
        let da2 = conv::backward(
            &part(4, io.input),
            spec(4),
            &a,
            dy,
            &mut grads[r[4].clone()],
        );
        da.iter_mut().zip(da2).for_each(|(g, h)| *g += h);
    }
    let mut dx = norm::backward(
        &part(0, io.input),
        x,
        &da,
        Some(&a),
        &mut grads[r[0].clone()],
    );
    if parts.len() == 4 {
        dx.iter_mut().zip(dy).for_each(|(g, h)| *g += h);
    }
    dx
}
