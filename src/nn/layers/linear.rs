//! A fully connected layer, y = x·Wᵀ + b with W `[out, inp]`: one product forward, which adds
//! the bias (and, fused with the ReLU after it, takes the ReLU) as it stores; the weight
//! gradient dW = dyᵀ·x, db = Σ dy (read from dyᵀ as the weight gradient staged it, where it
//! does) and (past the first layer) dx = dy·W, which applies the ReLU's backward as it stores
//! when x is a fused ReLU's output. Convolutions reuse [`dense`]
//! on their im2col columns.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use crate::error::Result;
use crate::gpu::GpuBuf;
use crate::kernels::Dispatch;
use crate::kernels::bias::{self, BiasShape};
use crate::kernels::matmul::{self, Dims, Epilogue, Form, Variant};

/// The shape of a dense product: `rows` examples (or pixels) of `inp` features to `out`,
/// with a bias or not.
#[derive(Clone, Copy)]
pub(super) struct Dense {
    pub rows: usize,
    pub inp: usize,
    pub out: usize,
    pub bias: bool,
}

/// What a dense layer's stores fuse: the ReLU after the forward product, and, when the input
/// is a fused ReLU's output, that ReLU's backward after the input gradient's product.
#[derive(Clone, Copy, Default)]
pub(super) struct Fused {
    pub relu: bool,
    pub input_relu: bool,
    /// The input gradient adds to what `dx` holds (BERT's query, key and value linears share
    /// one input).
    pub accumulate_dx: bool,
}

/// Forward and backward of a dense product over `x` (rows of `inp` values) into `io.y`, its
/// backward writing `dx` when given. Each product runs the variant `variant` names, else the
/// one the device's kernels choose for its shape class.
pub(super) fn dense(
    io: &LayerIo<'_>,
    d: Dense,
    (x, dx): (&GpuBuf<f32>, Option<&GpuBuf<f32>>),
    (fused, variant): (Fused, Option<Variant>),
) -> Result<(Dispatch, Dispatch)> {
    let Dense { rows, inp, out, .. } = d;
    let r = io.replicas;
    let (x, y, dy) = (x.replicas(r), io.y.replicas(r), io.dy.replicas(r));
    let (w, b) = (io.params[0], io.params.get(1).copied());
    let (dw, db) = (io.grads[0], io.grads.get(1).copied());
    let pick = |dims: Dims| variant.unwrap_or_else(|| io.kernels.dense(dims));
    let product = |form, dims, (a, b, c), epilogue| {
        matmul::prepare_fused(io.gpu, pick(dims), form, dims, (a, b, c), false, epilogue)
    };
    let shape = BiasShape {
        outer: rows,
        channels: out,
        inner: 1,
    };
    let activate = Epilogue {
        bias: b,
        relu: fused.relu,
        mask: None,
    };
    let fwd = product(Form::ABt, dims(rows, out, inp), (x, w, y), activate)?;
    // The weight gradient's op(A) is dyᵀ, whose rows the bias gradient sums: where the
    // product stages it in a texture, the bias gradient reads it there.
    let (mut bwd, staged) = matmul::prepare_staged(
        io.gpu,
        pick(dims(out, inp, rows)),
        Form::AtB,
        dims(out, inp, rows),
        (dy, x, dw),
        (false, Epilogue::default()),
    )?;
    if let Some(db) = db {
        let sum = bias::prepare_grad_staged(io.gpu, shape, (dy, staged.as_ref()), db, false)?;
        bwd = bwd.then(sum);
    }
    if let Some(dx) = dx {
        let relu_backward = Epilogue {
            mask: fused.input_relu.then_some(x),
            ..Epilogue::default()
        };
        let input_grad = matmul::prepare_fused(
            io.gpu,
            pick(dims(rows, inp, out)),
            Form::AB,
            dims(rows, inp, out),
            (dy, w, dx.replicas(r)),
            fused.accumulate_dx,
            relu_backward,
        )?;
        bwd = bwd.then(input_grad);
    }
    Ok((fwd, bwd))
}

fn dims(m: usize, n: usize, k: usize) -> Dims {
    Dims { m, n, k }
}

pub(super) fn build(io: &LayerIo<'_>, inp: usize, out: usize, relu: bool) -> Result<LayerPass> {
    let d = Dense {
        rows: io.batch * io.input.rows(),
        inp,
        out,
        bias: true,
    };
    let fused = Fused {
        relu,
        input_relu: io.input_relu,
        accumulate_dx: false,
    };
    let (fwd, bwd) = dense(io, d, (io.x, io.dx), (fused, None))?;
    Ok(LayerPass::new(fwd, Some(bwd)))
}

/// f64 forward of a dense product over `x`, with the layer's `[W, b]` (or `[W]`) in
/// `params`.
pub(super) fn dense_forward(d: Dense, params: &[f64], x: &[f64]) -> Vec<f64> {
    let (w, b) = params.split_at(d.out * d.inp);
    let dims = Dims {
        m: d.rows,
        n: d.out,
        k: d.inp,
    };
    let y = matmul::reference(Form::ABt, dims, x, w);
    if !d.bias {
        return y;
    }
    let shape = BiasShape {
        outer: d.rows,
        channels: d.out,
        inner: 1,
    };
    bias::reference_add(shape, b, &y)
}

/// f64 backward of [`dense_forward`]: the gradients of `[W, b]` into `grads`, and dx.
pub(super) fn dense_backward(
    d: Dense,
    params: &[f64],
    x: &[f64],
    dy: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    let w = &params[..d.out * d.inp];
    let dw = matmul::reference(
        Form::AtB,
        Dims {
            m: d.out,
            n: d.inp,
            k: d.rows,
        },
        dy,
        x,
    );
    let shape = BiasShape {
        outer: d.rows,
        channels: d.out,
        inner: 1,
    };
    grads[..dw.len()].copy_from_slice(&dw);
    if d.bias {
        let db = bias::reference_grad(shape, dy);
        grads[dw.len()..].copy_from_slice(&db);
    }
    matmul::reference(
        Form::AB,
        Dims {
            m: d.rows,
            n: d.inp,
            k: d.out,
        },
        dy,
        w,
    )
}

pub(super) fn forward(io: &RefIo<'_>, inp: usize, out: usize, x: &[f64]) -> Vec<f64> {
    let d = Dense {
        rows: io.batch * io.input.rows(),
        inp,
        out,
        bias: true,
    };
    dense_forward(d, io.params, x)
}

pub(super) fn backward(
    io: &RefIo<'_>,
    (inp, out): (usize, usize),
    x: &[f64],
    dy: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    let d = Dense {
        rows: io.batch * io.input.rows(),
        inp,
        out,
        bias: true,
    };
    dense_backward(d, io.params, x, dy, grads)
}
