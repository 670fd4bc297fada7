//! Multi-head self-attention's core as timm's `Attention` computes it, between the fused qkv
//! linear and the output projection: per example and head, S = scale·Q·Kᵀ with scale =
//! head_dim^−½, P = softmax over keys, O = P·V. The products run through one batched strided
//! product (`bmm.wgsl`), the softmax and its backward through `softmax.wgsl`.
//!
//! Layouts, as timm's reshapes leave them (B examples, T tokens, H heads of D features,
//! W = H·D): `qkv` is `[B, T, 3, H, D]` (the qkv linear's output rows: all queries' heads,
//! then keys', then values'), `out` is `[B, T, H, D]` (the projection's input), and `probs`
//! is `[B, H, T, T]` (queries by keys), kept from the forward for the backward. Hugging Face's
//! BERT computes the queries, keys and values with three linears instead: each is then its own
//! `[B, T, H, D]` buffer ([`Qkv::Separate`]).
//!
//! A key mask (BERT's attention mask over padding) leaves the masked keys out of each row's
//! softmax: their probabilities are exactly 0, as Hugging Face's additive mask of the lowest
//! finite value makes them in f32. The backward needs nothing more, since
//! dS = P ⊙ (dP − rowsum(P ⊙ dP)) is 0 wherever P is.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

mod bmm;
mod reference;
mod shape;

pub use reference::{
    ProbsDropout, reference_backward, reference_backward_dropped, reference_backward_masked,
    reference_forward, reference_forward_dropped, reference_forward_masked,
};
pub use shape::AttnShape;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use bmm::Strided;

const SOFTMAX_SRC: &str = crate::wgsl!("kernels/attention/softmax.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SoftmaxParams {
    rows: u32,
    n: u32,
    per_example: u32,
    mask_at: u32,
    mask_stride: u32,
    _pad: [u32; 3],
}

/// Where the queries, keys and values lie.
#[derive(Clone, Copy)]
pub enum Qkv<'a> {
    /// timm's fused `[B, T, 3, H, D]`.
    Fused(View<'a>),
    /// Three buffers of `[B, T, H, D]`: queries, keys, values.
    Separate([View<'a>; 3]),
}

impl<'a> Qkv<'a> {
    /// Queries (0), keys (1) or values (2), indexed (b, h, token, feature).
    fn part(self, s: AttnShape, k: usize) -> (View<'a>, Strided) {
        match self {
            Qkv::Fused(v) => (v, s.qkv(k)),
            Qkv::Separate(v) => (v[k], s.out()),
        }
    }

    fn check(self, op: &'static str, s: AttnShape) -> Result<()> {
        match self {
            Qkv::Fused(v) => v.expect_len(op, "qkv", s.qkv_len()),
            Qkv::Separate(v) => v
                .iter()
                .zip(["queries", "keys", "values"])
                .try_for_each(|(v, what)| v.expect_len(op, what, s.out_len())),
        }
    }
}

/// Dropout on the probabilities before they weigh the values (BERT's
/// `attention_probs_dropout_prob`, `kernels::dropout`'s masks): the dropped copy goes to
/// `dropped` (as large as `probs`, which keeps the softmax's output for its backward), and the
/// backward drops the probabilities' gradient with the same mask.
#[derive(Clone, Copy)]
pub struct AttnDropout<'a> {
    /// The dropped probabilities.
    pub dropped: View<'a>,
    /// Each replica's dropout key.
    pub keys: View<'a, u32>,
    /// The rate, in (0, 1).
    pub rate: f32,
    /// The site that salts the masks.
    pub site: u32,
}

impl AttnDropout<'_> {
    fn drop(&self, gpu: &Gpu, s: AttnShape, data: View<'_>) -> Result<Dispatch> {
        super::dropout::prepare(gpu, (s.probs_len(), self.rate, self.site), data, self.keys)
    }
}

/// Which keys each example attends to: example b's key j is kept where
/// `x[offset + b·stride + j]` is not 0 (BERT's attention mask inside the text batch).
#[derive(Clone, Copy)]
pub struct KeyMask<'a> {
    /// The buffer holding the mask (one replica of it per replica of the attention).
    pub x: View<'a>,
    /// Where example 0's mask starts.
    pub offset: usize,
    /// Values between two examples' masks.
    pub stride: usize,
}

/// The uniform layouts, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    let softmax = uniform_layout!(
        "attention_softmax",
        SOFTMAX_SRC,
        "Params",
        SoftmaxParams {
            rows,
            n,
            per_example,
            mask_at,
            mask_stride,
            _pad
        }
    );
    vec![bmm::uniform_layout(), softmax.replicated()]
}

/// Swap a strided operand's two matrix axes (a transpose, free).
fn transposed(s: Strided) -> Strided {
    Strided {
        si: s.sj,
        sj: s.si,
        ..s
    }
}

/// The softmax over each row of `probs` (with `dprobs`, its backward; with `mask`, over the
/// kept keys only).
fn softmax(
    gpu: &Gpu,
    op: &'static str,
    s: AttnShape,
    (probs, dprobs): (View<'_>, Option<View<'_>>),
    mask: Option<KeyMask<'_>>,
) -> Result<Dispatch> {
    let rows = s.batch * s.heads * s.tokens;
    for v in std::iter::once(probs).chain(dprobs) {
        v.expect_len(op, "probs", s.probs_len())?;
    }
    // The shader reads the mask binding only where the stride is not 0; without a mask it
    // gets a small buffer of its own (binding probs twice, writable and not, is invalid).
    let unmasked;
    let (mask_view, mask_at, mask_stride) = match mask {
        Some(m) => {
            if m.stride < s.tokens {
                return Err(Error::shape(op, "a key mask needs a value per key"));
            }
            m.x.expect_len(op, "mask", m.offset + (s.batch - 1) * m.stride + s.tokens)?;
            (m.x, m.offset + m.x.offset, m.stride)
        }
        None => {
            unmasked = gpu.zeros::<f32>(4 * probs.replicas, "no key mask")?;
            (unmasked.replicas(probs.replicas), 0, 0)
        }
    };
    let p = SoftmaxParams {
        rows: as_u32(op, "rows", rows)?,
        n: as_u32(op, "keys", s.tokens)?,
        per_example: as_u32(op, "rows per example", s.heads * s.tokens)?,
        mask_at: as_u32(op, "mask offset", mask_at)?,
        mask_stride: as_u32(op, "mask stride", mask_stride)?,
        _pad: [0; 3],
    };
    let (reps, bindings): (Vec<_>, Vec<_>) = match dprobs {
        Some(d) => (
            vec![probs.rep(), d.rep()],
            vec![Bind::Buf(&probs.buf.buffer), Bind::Buf(&d.buf.buffer)],
        ),
        None => (
            vec![probs.rep(), (probs.replicas, 0), mask_view.rep()],
            vec![
                Bind::Buf(&probs.buf.buffer),
                Bind::Unused,
                Bind::Buf(&mask_view.buf.buffer),
            ],
        ),
    };
    build(
        gpu,
        Launch {
            label: "attention_softmax",
            source: SOFTMAX_SRC,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(op, &reps)?),
            bindings: &bindings,
            groups: grid_1d(gpu, as_u32(op, "rows", rows)?),
        },
    )
}

/// Prepare the forward: `probs` = softmax(scale·Q·Kᵀ) and `out` = probs·V, on timm's fused
/// `qkv`.
pub fn prepare_forward(
    gpu: &Gpu,
    s: AttnShape,
    qkv: View<'_>,
    probs: View<'_>,
    out: View<'_>,
) -> Result<Dispatch> {
    prepare_forward_masked(gpu, s, Qkv::Fused(qkv), (probs, out), (None, None))
}

/// Prepare the forward on any [`Qkv`] layout, each row's softmax over the keys `mask` keeps
/// (all without one), the probabilities dropped before they weigh the values with `drop`.
pub fn prepare_forward_masked(
    gpu: &Gpu,
    s: AttnShape,
    qkv: Qkv<'_>,
    (probs, out): (View<'_>, View<'_>),
    (mask, drop): (Option<KeyMask<'_>>, Option<AttnDropout<'_>>),
) -> Result<Dispatch> {
    const OP: &str = "attention_forward";
    s.check(OP)?;
    qkv.check(OP, s)?;
    let (t, d) = (s.tokens, s.head_dim);
    let (q, k, v) = (qkv.part(s, 0), qkv.part(s, 1), qkv.part(s, 2));
    let scores = bmm::prepare(
        gpu,
        "attention_scores",
        s.dims(t, t, d),
        s.scale() as f32,
        [q, (k.0, transposed(k.1)), (probs, s.probs())],
    )?;
    let mut soft = softmax(gpu, "softmax_rows", s, (probs, None), mask)?;
    let weights = match drop {
        Some(dr) => {
            // Every replica at once: the copy runs over the whole buffers.
            let copy = super::vector::prepare_copy(gpu, probs.buf.view(), dr.dropped.buf.view())?;
            soft = soft.then(copy).then(dr.drop(gpu, s, dr.dropped)?);
            dr.dropped
        }
        None => probs,
    };
    let values = bmm::prepare(
        gpu,
        "attention_values",
        s.dims(t, d, t),
        1.0,
        [(weights, s.probs()), v, (out, s.out())],
    )?;
    Ok(scores.then(soft).then(values))
}

/// Prepare the backward from `dout` and the forward's `qkv` and `probs`: `dqkv`, with
/// `dprobs` (as large as `probs`) as scratch.
pub fn prepare_backward(
    gpu: &Gpu,
    s: AttnShape,
    (qkv, probs): (View<'_>, View<'_>),
    dout: View<'_>,
    dprobs: View<'_>,
    dqkv: View<'_>,
) -> Result<Dispatch> {
    prepare_backward_any(
        gpu,
        s,
        (Qkv::Fused(qkv), probs),
        dout,
        dprobs,
        (Qkv::Fused(dqkv), None),
    )
}

/// [`prepare_backward`] on any [`Qkv`] layouts (a masked forward's too: its probabilities
/// already carry the mask), with the forward's dropout `drop`.
pub fn prepare_backward_any(
    gpu: &Gpu,
    s: AttnShape,
    (qkv, probs): (Qkv<'_>, View<'_>),
    dout: View<'_>,
    dprobs: View<'_>,
    (dqkv, drop): (Qkv<'_>, Option<AttnDropout<'_>>),
) -> Result<Dispatch> {
    const OP: &str = "attention_backward";
    s.check(OP)?;
    qkv.check(OP, s)?;
    dqkv.check(OP, s)?;
    let (t, d, scale) = (s.tokens, s.head_dim, s.scale() as f32);
    let (q, k, v) = (qkv.part(s, 0), qkv.part(s, 1), qkv.part(s, 2));
    // dP = dO·Vᵀ (through the dropout's mask), then dS = P ⊙ (dP − rowsum(P ⊙ dP)) in place.
    let mut dp = bmm::prepare(
        gpu,
        "attention_dprobs",
        s.dims(t, t, d),
        1.0,
        [(dout, s.out()), (v.0, transposed(v.1)), (dprobs, s.probs())],
    )?;
    if let Some(dr) = drop {
        dp = dp.then(dr.drop(gpu, s, dprobs)?);
    }
    let weights = drop.map_or(probs, |dr| dr.dropped);
    let ds = softmax(gpu, "softmax_backward", s, (probs, Some(dprobs)), None)?;
    // dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO.
    let dq = bmm::prepare(
        gpu,
        "attention_dq",
        s.dims(t, d, t),
        scale,
        [(dprobs, s.probs()), k, dqkv.part(s, 0)],
    )?;
    let dk = bmm::prepare(
        gpu,
        "attention_dk",
        s.dims(t, d, t),
        scale,
        [(dprobs, transposed(s.probs())), q, dqkv.part(s, 1)],
    )?;
    let dv = bmm::prepare(
        gpu,
        "attention_dv",
        s.dims(t, d, t),
        1.0,
        [
            (weights, transposed(s.probs())),
            (dout, s.out()),
            dqkv.part(s, 2),
        ],
    )?;
    Ok(dp.then(ds).then(dq).then(dk).then(dv))
}
