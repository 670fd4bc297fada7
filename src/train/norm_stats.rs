//! BatchNorm's running statistics over a run. Every gradient pass normalises with its own
//! batch's statistics; the passes `--bn-stats` names (by default one per optimizer, see
//! `optim::bn_passes`) also fold theirs into the model's running statistics, in program
//! order, after the step. The statistics are a few values per channel, so they come back with
//! the step's readback and the running update is the host's (`Model::update_running`); a
//! `dual` worker returns its pass's with the gradient.

use crate::error::Result;
use crate::gpu::{Gpu, Readback};
use crate::nn::Model;
use crate::nn::evaluator::Plan;

/// The passes that update the running statistics, and the readback that carries their batch
/// statistics.
pub(crate) struct NormStats {
    /// Indices among the program's passes, in order.
    pub passes: Vec<usize>,
    /// Values per pass: per BatchNorm its mean and biased variance.
    len: usize,
    back: Readback,
}

impl NormStats {
    /// For `model` with updates from `passes`; `None` when the model has no BatchNorm.
    pub fn new(gpu: &Gpu, model: &Model, passes: Vec<usize>) -> Option<NormStats> {
        let len: usize = model.norm_sites().iter().map(|s| 2 * s.c).sum();
        (len > 0).then(|| NormStats {
            back: Readback::new(gpu, len * passes.len().max(1)),
            passes,
            len,
        })
    }

    /// Record a copy of the batch statistics of the `slot`-th updating pass from replica `r`
    /// of `plan`.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder, slot: usize, plan: &Plan, r: usize) {
        plan.record_batch_stats(encoder, &self.back, r, slot * self.len);
    }

    /// Fold the statistics into `state` once `submission` (which recorded their copies) is
    /// done: slot j's pass ran on `sizes[j]` examples; `remote` gives one slot's statistics
    /// from elsewhere (a `dual` worker's reply).
    pub async fn fold(
        &self,
        (model, state): (&Model, &mut [f32]),
        submission: wgpu::SubmissionIndex,
        sizes: &[usize],
        remote: Option<(usize, &[f32])>,
    ) -> Result<()> {
        let all_remote = remote.is_some() && self.passes.len() == 1;
        let values = if all_remote {
            Vec::new()
        } else {
            self.back.read_after(submission).await?
        };
        for (slot, &size) in sizes.iter().enumerate() {
            let stats = match remote {
                Some((s, v)) if s == slot => v,
                _ => &values[slot * self.len..(slot + 1) * self.len],
            };
            model.update_running(state, stats, size);
        }
        Ok(())
    }
}
