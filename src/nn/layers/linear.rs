//! A fully connected layer, y = x·Wᵀ + b with W `[out, inp]`: one product and a bias pass
//! forward; the weight gradient dW = dyᵀ·x, db = Σ dy and (past the first layer) dx = dy·W.
//! Convolutions reuse [`dense`] on their im2col columns.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use crate::error::Result;
use crate::gpu::GpuBuf;
use crate::kernels::bias::{self, BiasShape};
use crate::kernels::matmul::{self, Dims, Form};
use crate::kernels::{Dispatch, View};

/// The shape of a dense product: `rows` examples (or pixels) of `inp` features to `out`.
#[derive(Clone, Copy)]
pub(super) struct Dense {
    pub rows: usize,
    pub inp: usize,
    pub out: usize,
}

/// Forward and backward of a dense product over `x` (rows of `inp` values) into `io.y`, its
/// backward writing `dx` when given.
pub(super) fn dense(
    io: &LayerIo<'_>,
    d: Dense,
    x: &GpuBuf<f32>,
    dx: Option<&GpuBuf<f32>>,
) -> Result<(Dispatch, Dispatch)> {
    let Dense { rows, inp, out } = d;
    let r = io.replicas;
    let (x, y, dy) = (x.replicas(r), io.y.replicas(r), io.dy.replicas(r));
    let ([w, b], [dw, db]) = (tensors(&io.params), tensors(&io.grads));
    let product = |form, dims, a: View<'_>, b: View<'_>, c: View<'_>| {
        matmul::prepare(io.gpu, io.kernels.matmul, form, dims, a, b, c, false)
    };
    let shape = BiasShape {
        outer: rows,
        channels: out,
        inner: 1,
    };
    let fwd = product(
        Form::ABt,
        Dims {
            m: rows,
            n: out,
            k: inp,
        },
        x,
        w,
        y,
    )?
    .then(bias::prepare_add(io.gpu, shape, b, y)?);
    let mut bwd = product(
        Form::AtB,
        Dims {
            m: out,
            n: inp,
            k: rows,
        },
        dy,
        x,
        dw,
    )?
    .then(bias::prepare_grad(io.gpu, shape, dy, db, false)?);
    if let Some(dx) = dx {
        bwd = bwd.then(product(
            Form::AB,
            Dims {
                m: rows,
                n: inp,
                k: out,
            },
            dy,
            w,
            dx.replicas(r),
        )?);
    }
    Ok((fwd, bwd))
}

fn tensors<'a>(v: &[View<'a>]) -> [View<'a>; 2] {
    [v[0], v[1]]
}

pub(super) fn build(io: &LayerIo<'_>, inp: usize, out: usize) -> Result<LayerPass> {
    let d = Dense {
        rows: io.batch,
        inp,
        out,
    };
    let (fwd, bwd) = dense(io, d, io.x, io.dx)?;
    Ok(LayerPass::new(fwd, Some(bwd)))
}

/// f64 forward of a dense product over `x`, with the layer's `[W, b]` in `params`.
pub(super) fn dense_forward(d: Dense, params: &[f64], x: &[f64]) -> Vec<f64> {
    let (w, b) = params.split_at(d.out * d.inp);
    let dims = Dims {
        m: d.rows,
        n: d.out,
        k: d.inp,
    };
    let y = matmul::reference(Form::ABt, dims, x, w);
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
    let db = bias::reference_grad(shape, dy);
    grads[..dw.len()].copy_from_slice(&dw);
    grads[dw.len()..].copy_from_slice(&db);
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
        rows: io.batch,
        inp,
        out,
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
        rows: io.batch,
        inp,
        out,
    };
    dense_backward(d, io.params, x, dy, grads)
}
