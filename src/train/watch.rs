//! The parameters' squared norm after every step, read back with the step's loss: a run can
//! diverge with a finite loss (weights that overflow behind a ReLU that is never active give
//! no loss at all), so a divergence check needs the parameters as well as the loss.

use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf, Readback};
use crate::kernels::Dispatch;
use crate::kernels::sgd::SgdStep;

/// A trainer's readback: the reported pass's loss and correct count, then ‖x‖².
pub(crate) const READBACK: usize = 3;
/// The index of ‖x‖².
pub(crate) const NORM_SQ: usize = 2;

/// ‖x‖² of a trainer's parameters into a one-element buffer, prepared once.
pub(crate) struct NormWatch {
    out: GpuBuf<f32>,
    dispatch: Dispatch,
}

impl NormWatch {
    /// The watch over the parameters that `step`, the program's last update, writes: the
    /// norm's final stage over the partial sums the update leaves (it adds the new x's
    /// squares as it writes them), so the watch does not read x again.
    pub(crate) fn new(gpu: &Gpu, step: &SgdStep) -> Result<NormWatch> {
        let out = gpu.zeros::<f32>(1, "parameter norm")?;
        let dispatch = step.prepare_norm(gpu, out.view())?;
        Ok(NormWatch { out, dispatch })
    }

    /// Record ‖x‖² (after the step's update) and its copy into `readback`'s [`NORM_SQ`].
    pub(crate) fn record(&self, encoder: &mut wgpu::CommandEncoder, readback: &Readback) {
        self.dispatch.record(encoder);
        readback.record_part(encoder, &self.out, 0, 1, NORM_SQ);
    }
}
