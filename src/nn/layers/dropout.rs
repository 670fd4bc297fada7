//! Dropout as a layer of its own (BERT's before its classifier): training copies the input
//! and drops the copy in place (`kernels::dropout`), its backward copies the gradient and
//! drops it with the same mask; evaluation copies only.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use crate::error::Result;
use crate::kernels::{dropout, vector};

pub(super) fn build(io: &LayerIo<'_>, rate: f32) -> Result<LayerPass> {
    let (r, n) = (io.replicas, io.batch * io.input.len());
    let keys = io.dropout_keys.replicas(r);
    let copy = vector::prepare_copy(io.gpu, io.x.view(), io.y.view())?;
    if rate == 0.0 {
        let back = io
            .dx
            .map(|dx| vector::prepare_copy(io.gpu, io.dy.view(), dx.view()));
        return Ok(LayerPass::new(copy, back.transpose()?));
    }
    let shape = (n, rate, io.site as u32);
    let fwd = copy
        .clone()
        .then(dropout::prepare(io.gpu, shape, io.y.replicas(r), keys)?);
    let bwd = match io.dx {
        Some(dx) => Some(
            vector::prepare_copy(io.gpu, io.dy.view(), dx.view())?.then(dropout::prepare(
                io.gpu,
                shape,
                dx.replicas(r),
                keys,
            )?),
        ),
        None => None,
    };
    let mut pass = LayerPass::new(fwd, bwd);
    pass.forward_eval = Some(copy);
    Ok(pass)
}

/// x as the pass drops it (training: `io.state` is `None`), else x.
pub(super) fn forward(io: &RefIo<'_>, rate: f32, x: &[f64]) -> Vec<f64> {
    apply(io, rate, io.site_of(0), x)
}

pub(super) fn backward(io: &RefIo<'_>, rate: f32, dy: &[f64]) -> Vec<f64> {
    apply(io, rate, io.site_of(0), dy)
}

/// `v` with pass `io`'s mask of `site` at `rate` applied in training (inverted dropout: the
/// forward and the backward alike), unchanged in evaluation or at rate 0.
pub(super) fn apply(io: &RefIo<'_>, rate: f32, site: u32, v: &[f64]) -> Vec<f64> {
    if rate > 0.0 && io.state.is_none() {
        dropout::reference(v, io.dropout.0, site, rate)
    } else {
        v.to_vec()
    }
}
