//! Fused softmax + cross-entropy with label smoothing (`softmax_xent.wgsl`).
//!
//! One dispatch computes the gradient of the mean loss with respect to the logits, the mean
//! loss and the numbers of correct predictions, top-1 and top-5. The scalars land in a small
//! metrics buffer that is the only thing a training step reads back.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/softmax_xent/softmax_xent.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct XentParams {
    rows: u32,
    classes: u32,
    smoothing: f32,
    write_grad: u32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    let l = uniform_layout!(
        "softmax_xent",
        SRC,
        "Params",
        XentParams {
            rows,
            classes,
            smoothing,
            write_grad,
        }
    );
    vec![l.replicated()]
}

/// Prepare the loss over `rows` examples of `classes` logits. `metrics` receives
/// `[mean loss, correct count, top-5 count]` and `row_loss` each row's loss (as long as
/// `labels`); `dlogits` is written only when `write_grad`.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    gpu: &Gpu,
    rows: usize,
    classes: usize,
    smoothing: f32,
    logits: View<'_>,
    labels: View<'_, u32>,
    dlogits: View<'_>,
    (metrics, row_loss): (View<'_>, View<'_>),
    write_grad: bool,
) -> Result<Dispatch> {
    const OP: &str = "softmax_xent";
    if rows == 0 || classes < 2 {
        return Err(Error::shape(
            OP,
            format!("need rows ≥ 1 and classes ≥ 2, got {rows} and {classes}"),
        ));
    }
    if !(0.0..1.0).contains(&smoothing) {
        return Err(Error::Invalid(format!(
            "label smoothing must be in [0, 1), got {smoothing}"
        )));
    }
    logits.expect_len(OP, "logits", rows * classes)?;
    dlogits.expect_len(OP, "dlogits", rows * classes)?;
    metrics.expect_len(OP, "metrics", 3)?;
    if labels.len < rows {
        return Err(Error::shape(
            OP,
            format!("labels needs {rows} elements, got {}", labels.len),
        ));
    }
    if row_loss.len != labels.len || row_loss.offset != 0 {
        return Err(Error::shape(
            OP,
            format!(
                "row_loss must be a whole buffer laid out like labels ({} elements), got {} \
                 from {}",
                labels.len, row_loss.len, row_loss.offset
            ),
        ));
    }
    let offsets = [logits.offset, labels.offset, dlogits.offset, metrics.offset];
    if offsets.iter().any(|&o| o != 0)
        || logits.buf.buffer == dlogits.buf.buffer
        || dlogits.buf.buffer == metrics.buf.buffer
    {
        return Err(Error::shape(
            OP,
            "logits, dlogits and metrics must be distinct whole buffers",
        ));
    }
    let p = XentParams {
        rows: as_u32(OP, "rows", rows)?,
        classes: as_u32(OP, "classes", classes)?,
        smoothing,
        write_grad: write_grad as u32,
    };
    build(
        gpu,
        Launch {
            label: "softmax_xent",
            source: SRC,
            entry: "softmax_xent",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(
                OP,
                &[logits.rep(), labels.rep(), dlogits.rep(), metrics.rep()],
            )?),
            bindings: &[
                Bind::Buf(&logits.buf.buffer),
                Bind::Buf(&labels.buf.buffer),
                Bind::Buf(&dlogits.buf.buffer),
                Bind::Buf(&metrics.buf.buffer),
                Bind::Buf(&row_loss.buf.buffer),
            ],
            groups: [1, 1, 1],
        },
    )
}

/// What the CPU reference returns.
#[derive(Clone, Debug, PartialEq)]
pub struct XentReference {
    /// Mean loss over the rows.
    pub loss: f64,
    /// Rows whose first arg-max equals the label.
    pub correct: usize,
    /// Rows where fewer than 5 classes score strictly higher than the label.
    pub top5: usize,
    /// Gradient of the mean loss with respect to the logits.
    pub dlogits: Vec<f64>,
    /// Each row's loss.
    pub row_losses: Vec<f64>,
}

/// CPU f64 reference, PyTorch's `CrossEntropyLoss(label_smoothing)` with mean reduction.
pub fn reference<T: Copy + Into<f64>>(
    rows: usize,
    classes: usize,
    smoothing: f64,
    logits: &[T],
    labels: &[u32],
) -> XentReference {
    let mut loss = 0.0;
    let (mut correct, mut top5) = (0, 0);
    let mut dlogits = vec![0.0; rows * classes];
    let mut row_losses = vec![0.0; rows];
    for r in 0..rows {
        let z: Vec<f64> = logits[r * classes..(r + 1) * classes]
            .iter()
            .map(|&v| v.into())
            .collect();
        let label = labels[r] as usize;
        let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let arg = z.iter().position(|&v| v == zmax).expect("non-empty row");
        let lse = zmax + z.iter().map(|v| (v - zmax).exp()).sum::<f64>().ln();
        for c in 0..classes {
            let target =
                smoothing / classes as f64 + if c == label { 1.0 - smoothing } else { 0.0 };
            row_losses[r] += target * (lse - z[c]);
            dlogits[r * classes + c] = ((z[c] - lse).exp() - target) / rows as f64;
        }
        loss += row_losses[r];
        correct += (arg == label) as usize;
        top5 += (z.iter().filter(|&&v| v > z[label]).count() < 5) as usize;
    }
    XentReference {
        loss: loss / rows as f64,
        correct,
        top5,
        dlogits,
        row_losses,
    }
}
