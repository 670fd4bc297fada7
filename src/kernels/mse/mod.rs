//! Mean squared error of a one-output regression head (`mse.wgsl`), the loss Hugging Face's
//! `BertForSequenceClassification` trains with when it has one label (GLUE's STS-B).
//!
//! One dispatch computes the gradient of the mean loss with respect to the predictions, the
//! mean loss and each row's loss, into the same metrics buffer as `super::softmax_xent`'s
//! (`[mean loss, 0, 0]`: a regression has no correct or top-5 counts). Targets travel in the
//! batch's labels buffer as the bits of f32s ([`target_bits`]), so batching, checkpoints and
//! MPI move them as they move classes.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/mse/mse.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MseParams {
    rows: u32,
    write_grad: u32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    let l = uniform_layout!("mse", SRC, "Params", MseParams { rows, write_grad });
    vec![l.replicated()]
}

/// A regression target as the labels buffer holds it: the bits of its f32.
pub fn target_bits(target: f32) -> u32 {
    target.to_bits()
}

/// The target a labels-buffer value holds (the inverse of [`target_bits`]).
pub fn target_of(bits: u32) -> f32 {
    f32::from_bits(bits)
}

/// Prepare the loss over `rows` predictions. `metrics` receives `[mean loss, 0, 0]` and
/// `row_loss` each row's loss (as long as `targets`); `dpred` is written only when
/// `write_grad`.
pub fn prepare(
    gpu: &Gpu,
    rows: usize,
    (pred, targets): (View<'_>, View<'_, u32>),
    dpred: View<'_>,
    (metrics, row_loss): (View<'_>, View<'_>),
    write_grad: bool,
) -> Result<Dispatch> {
    const OP: &str = "mse";
    if rows == 0 {
        return Err(Error::shape(OP, "need rows ≥ 1"));
    }
    pred.expect_len(OP, "pred", rows)?;
    dpred.expect_len(OP, "dpred", rows)?;
    metrics.expect_len(OP, "metrics", 3)?;
    if targets.len < rows {
        return Err(Error::shape(
            OP,
            format!("targets needs {rows} elements, got {}", targets.len),
        ));
    }
    if row_loss.len != targets.len || row_loss.offset != 0 {
        return Err(Error::shape(
            OP,
            format!(
                "row_loss must be a whole buffer laid out like targets ({} elements), got {} \
                 from {}",
                targets.len, row_loss.len, row_loss.offset
            ),
        ));
    }
    let offsets = [pred.offset, targets.offset, dpred.offset, metrics.offset];
    if offsets.iter().any(|&o| o != 0)
        || pred.buf.buffer == dpred.buf.buffer
        || dpred.buf.buffer == metrics.buf.buffer
    {
        return Err(Error::shape(
            OP,
            "pred, dpred and metrics must be distinct whole buffers",
        ));
    }
    let p = MseParams {
        rows: as_u32(OP, "rows", rows)?,
        write_grad: write_grad as u32,
    };
    build(
        gpu,
        Launch {
            label: "mse",
            source: SRC,
            entry: "mse",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(
                OP,
                &[pred.rep(), targets.rep(), dpred.rep(), metrics.rep()],
            )?),
            bindings: &[
                Bind::Buf(&pred.buf.buffer),
                Bind::Buf(&targets.buf.buffer),
                Bind::Buf(&dpred.buf.buffer),
                Bind::Buf(&metrics.buf.buffer),
                Bind::Buf(&row_loss.buf.buffer),
            ],
            groups: [1, 1, 1],
        },
    )
}

/// What the CPU reference returns.
#[derive(Clone, Debug, PartialEq)]
pub struct MseReference {
    /// Mean loss over the rows.
    pub loss: f64,
    /// Gradient of the mean loss with respect to the predictions.
    pub dpred: Vec<f64>,
    /// Each row's loss.
    pub row_losses: Vec<f64>,
}

/// CPU f64 reference, PyTorch's `MSELoss()` (mean reduction) of one prediction per row
/// against `targets` given as [`target_bits`].
pub fn reference<T: Copy + Into<f64>>(pred: &[T], targets: &[u32]) -> MseReference {
    let rows = targets.len();
    let d: Vec<f64> = pred[..rows]
        .iter()
        .zip(targets)
        .map(|(&y, &t)| y.into() - target_of(t) as f64)
        .collect();
    let row_losses: Vec<f64> = d.iter().map(|d| d * d).collect();
    MseReference {
        loss: row_losses.iter().sum::<f64>() / rows as f64,
        dpred: d.iter().map(|d| 2.0 * d / rows as f64).collect(),
        row_losses,
    }
}
