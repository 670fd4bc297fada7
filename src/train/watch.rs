//! The parameters' squared norm after every step, read back with the step's loss: a run can
//! diverge with a finite loss (weights that overflow behind a ReLU that is never active give
//! no loss at all), so a divergence check needs the parameters as well as the loss.
//!
//! The program's last update adds up the new parameters' squares as it writes them (see
//! `kernels/sgd/prelude.wgsl`) and leaves partial sums, one per invocation of its grid; they
//! travel in the step's readback and the host adds them. So the watch reads x no second time
//! and launches nothing: on llvmpipe a separate norm over the MLP's 269k parameters took 0.50 ms
//! a step, and a device-side final sum over the partials 0.13 ms.

use crate::gpu::{GpuBuf, Readback};
use crate::optim::base::BaseStep;

/// A trainer's readback starts with the reported pass's loss and correct count.
pub(crate) const READBACK: usize = 2;

/// Where a trainer's update leaves its partial sums of ‖x‖², and where they go in the readback.
pub(crate) struct NormWatch {
    squares: GpuBuf<f32>,
    at: usize,
}

impl NormWatch {
    /// The watch over the parameters that `step`, the program's last update, writes; its
    /// values go to the trainer's readback from value `at` on.
    pub(crate) fn new(step: &BaseStep, at: usize) -> NormWatch {
        NormWatch {
            squares: step.squares().clone(),
            at,
        }
    }

    /// Values the watch takes in the readback.
    pub(crate) fn len(&self) -> usize {
        self.squares.len
    }

    /// Record the copy of the partial sums (after the step's update) into `readback`.
    pub(crate) fn record(&self, encoder: &mut wgpu::CommandEncoder, readback: &Readback) {
        readback.record_part(encoder, &self.squares, 0, self.len(), self.at);
    }

    /// ‖x‖² from a readback's `values`: the partial sums added in order, in f64.
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
