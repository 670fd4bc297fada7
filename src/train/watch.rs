//! The parameters' squared norm after every step, read back with the step's loss: a run can
//! diverge with a finite loss (weights that overflow behind a ReLU that is never active give
//! no loss at all), so a divergence check needs the parameters as well as the loss.
//!
//! The program's last update adds up the new parameters' squares as it writes them (see
//! `kernels/sgd/prelude.wgsl`) and leaves partial sums, one per invocation of its grid, so the
//! watch reads x no second time. On a CPU rasteriser the partials (16384 at most) travel in
//! the step's readback and the host adds them, launching nothing: on llvmpipe a separate norm
//! over the MLP's 269k parameters took 0.50 ms a step, and a device-side final sum over the
//! partials 0.13 ms. On a GPU the update's grid can be wider (up to 262144 partials, a
//! megabyte): past [`HOST_PARTIALS`] the norm's final stage adds them on the device and one
//! value comes back.

use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf, Readback};
use crate::kernels::Dispatch;
use crate::optim::base::BaseStep;

/// A trainer's readback starts with the reported pass's loss and correct count and the
/// probes' values (`probes.rs`); the batch statistics and the watch's values follow.
pub(crate) const READBACK: usize = super::probes::DIAGNOSIS_AT + super::probes::DIAGNOSIS_VALUES;

/// The most partial sums the host adds (64 KB a step: a CPU rasteriser's update grid at most).
const HOST_PARTIALS: usize = 16384;

/// Where a trainer's update leaves its partial sums of ‖x‖², and where they go in the readback.
pub(crate) struct NormWatch {
    /// What the readback copies: the partial sums, or (on GPUs) their total.
    values: GpuBuf<f32>,
    /// The final stage that writes the total, on GPUs.
    total: Option<Dispatch>,
    at: usize,
}

impl NormWatch {
    /// The watch over the parameters that `step`, the program's last update, writes; its
    /// values go to the trainer's readback from value `at` on.
    pub(crate) fn new(gpu: &Gpu, step: &BaseStep, at: usize) -> Result<NormWatch> {
        let squares = step.squares();
        if squares.len <= HOST_PARTIALS {
            return Ok(NormWatch {
                values: squares.clone(),
                total: None,
                at,
            });
        }
        let sum = gpu.zeros::<f32>(1, "‖x‖² after the step")?;
        let groups = squares.len / 256;
        let total = crate::kernels::norm::prepare_final(gpu, squares, groups, sum.view())?;
        Ok(NormWatch {
            values: sum,
            total: Some(total),
            at,
        })
    }

    /// Values the watch takes in the readback.
    pub(crate) fn len(&self) -> usize {
        self.values.len
    }

    /// Record the copy of the partial sums or of their total (after the step's update) into
    /// `readback`.
    pub(crate) fn record(&self, encoder: &mut wgpu::CommandEncoder, readback: &Readback) {
        if let Some(total) = &self.total {
            total.record(encoder);
        }
        readback.record_part(encoder, &self.values, 0, self.len(), self.at);
    }

    /// ‖x‖² from a readback's `values`: the partial sums added in order, in f64 (their total
    /// where the device added them).
    pub(crate) fn norm_sq(&self, values: &[f32]) -> f32 {
        let partials = &values[self.at..self.at + self.len()];
        partials.iter().map(|&v| v as f64).sum::<f64>() as f32
    }

    /// Where the watch's values start: the readback's values before it are the metrics and
    /// the batch statistics.
    pub(crate) fn at(&self) -> usize {
        self.at
    }
}
