//! Multi-head self-attention's core as timm's `Attention` computes it, between the fused qkv
//! linear and the output projection: per example and head, S = scale·Q·Kᵀ with scale =
//! head_dim^−½, P = softmax over keys, O = P·V. The products run through one batched strided
//! product (`bmm.wgsl`), the softmax and its backward through `softmax.wgsl`.
//!
//! Layouts, as timm's reshapes leave them (B examples, T tokens, H heads of D features,
//! W = H·D): `qkv` is `[B, T, 3, H, D]` (the qkv linear's output rows: all queries' heads,
//! then keys', then values'), `out` is `[B, T, H, D]` (the projection's input), and `probs`
//! is `[B, H, T, T]` (queries by keys), kept from the forward for the backward.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

mod bmm;
mod reference;
mod shape;

pub use reference::{reference_backward, reference_forward};
pub use shape::AttnShape;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::Result;
use crate::gpu::Gpu;
use bmm::Strided;

const SOFTMAX_SRC: &str = crate::wgsl!("kernels/attention/softmax.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SoftmaxParams {
    rows: u32,
    n: u32,
    _pad: [u32; 2],
}

/// The uniform layouts, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    let softmax = uniform_layout!(
        "attention_softmax",
        SOFTMAX_SRC,
        "Params",
        SoftmaxParams { rows, n, _pad }
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

fn softmax(gpu: &Gpu, op: &'static str, s: AttnShape, views: &[View<'_>]) -> Result<Dispatch> {
    let rows = s.batch * s.heads * s.tokens;
    for v in views {
        v.expect_len(op, "probs", s.probs_len())?;
    }
    let p = SoftmaxParams {
        rows: as_u32(op, "rows", rows)?,
        n: as_u32(op, "keys", s.tokens)?,
        _pad: [0; 2],
    };
    let reps: Vec<_> = views.iter().map(|v| v.rep()).collect();
    let bindings: Vec<_> = views.iter().map(|v| Bind::Buf(&v.buf.buffer)).collect();
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

/// Prepare the forward: `probs` = softmax(scale·Q·Kᵀ) and `out` = probs·V.
pub fn prepare_forward(
    gpu: &Gpu,
    s: AttnShape,
    qkv: View<'_>,
    probs: View<'_>,
    out: View<'_>,
) -> Result<Dispatch> {
    s.check("attention_forward")?;
    let (t, d) = (s.tokens, s.head_dim);
    let scores = bmm::prepare(
        gpu,
        "attention_scores",
        s.dims(t, t, d),
        s.scale() as f32,
        [
            (qkv, s.qkv(0)),
            (qkv, transposed(s.qkv(1))),
            (probs, s.probs()),
        ],
    )?;
    let soft = softmax(gpu, "softmax_rows", s, &[probs])?;
    let values = bmm::prepare(
        gpu,
        "attention_values",
        s.dims(t, d, t),
        1.0,
        [(probs, s.probs()), (qkv, s.qkv(2)), (out, s.out())],
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
    s.check("attention_backward")?;
    let (t, d, scale) = (s.tokens, s.head_dim, s.scale() as f32);
    // dP = dO·Vᵀ, then dS = P ⊙ (dP − rowsum(P ⊙ dP)) in place.
    let dp = bmm::prepare(
        gpu,
        "attention_dprobs",
        s.dims(t, t, d),
        1.0,
        [
            (dout, s.out()),
            (qkv, transposed(s.qkv(2))),
            (dprobs, s.probs()),
        ],
    )?;
    let ds = softmax(gpu, "softmax_backward", s, &[probs, dprobs])?;
    // dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO.
    let dq = bmm::prepare(
        gpu,
        "attention_dq",
        s.dims(t, d, t),
        scale,
        [(dprobs, s.probs()), (qkv, s.qkv(1)), (dqkv, s.qkv(0))],
    )?;
    let dk = bmm::prepare(
        gpu,
        "attention_dk",
        s.dims(t, d, t),
        scale,
        [
            (dprobs, transposed(s.probs())),
            (qkv, s.qkv(0)),
            (dqkv, s.qkv(1)),
        ],
    )?;
    let dv = bmm::prepare(
        gpu,
        "attention_dv",
        s.dims(t, d, t),
        1.0,
        [
            (probs, transposed(s.probs())),
            (dout, s.out()),
            (dqkv, s.qkv(2)),
        ],
    )?;
    Ok(dp.then(ds).then(dq).then(dk).then(dv))
}
