//! BatchNorm's running statistics over a run. Every gradient pass normalises with its own
//! batch's statistics; the passes `--bn-stats` names (by default one per optimizer, see
//! `optim::bn_passes`) also fold theirs into the model's running statistics, in program
//! order, after the step. The statistics are a few values per channel, so they come back in
//! the step's one readback and the running update is the host's (`Model::update_running`); a
//! `dual` worker returns its pass's with the gradient.

use super::watch::READBACK;
use crate::gpu::Readback;
use crate::nn::Model;
use crate::nn::evaluator::Plan;

/// The passes that update the running statistics, and where their batch statistics lie in the
/// trainer's readback: after its own values, one slot per pass.
pub(crate) struct NormStats {
    /// Indices among the program's passes, in order.
    pub passes: Vec<usize>,
    /// Values per pass: per BatchNorm its mean and biased variance.
    len: usize,
}

impl NormStats {
    /// For `model` with updates from `passes`; `None` when the model has no BatchNorm.
    pub fn new(model: &Model, passes: Vec<usize>) -> Option<NormStats> {
        let len: usize = model.norm_sites().iter().map(|s| 2 * s.c).sum();
        (len > 0).then_some(NormStats { passes, len })
    }

    /// Values of the trainer's readback the statistics take.
    pub fn values(&self) -> usize {
        self.len * self.passes.len()
    }

    /// Values per pass.
    pub fn per_pass(&self) -> usize {
        self.len
    }

    /// Record a copy of the batch statistics of the `slot`-th updating pass from replica `r`
    /// of `plan` into the trainer's `readback`, after its own values.
    pub fn record(
        &self,
        (encoder, readback): (&mut wgpu::CommandEncoder, &Readback),
        slot: usize,
        plan: &Plan,
        r: usize,
    ) {
        plan.record_batch_stats(encoder, readback, r, READBACK + slot * self.len);
    }

    /// Every slot's statistics in order: the readback's `values`, but where `remote` gives a
    /// slot's (a `dual` worker's reply).
    pub fn gather(&self, values: &[f32], remote: &[(usize, Vec<f32>)]) -> Vec<f32> {
        (0..self.passes.len())
            .flat_map(|slot| match remote.iter().find(|(s, _)| *s == slot) {
                Some((_, v)) => v.clone(),
                None => values[slot * self.len..(slot + 1) * self.len].to_vec(),
            })
            .collect()
    }

    /// Fold `values` (the readback's statistics, slot by slot) into `state`: slot j's pass ran
    /// on `sizes[j]` examples; `remote` gives some slots' statistics from elsewhere (a `dual`
    /// worker's reply), which the readback then does not hold.
    pub fn fold(
        &self,
        (model, state): (&Model, &mut [f32]),
        values: &[f32],
        sizes: &[usize],
        remote: &[(usize, Vec<f32>)],
    ) {
        for (slot, &size) in sizes.iter().enumerate() {
            let stats = match remote.iter().find(|(s, _)| *s == slot) {
                Some((_, v)) => v,
                None => &values[slot * self.len..(slot + 1) * self.len],
            };
            model.update_running(state, stats, size);
        }
    }
}
