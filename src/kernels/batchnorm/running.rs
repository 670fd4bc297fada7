//! BatchNorm's running statistics, the host's side of the layer: the update from a batch's
//! statistics after each step, and the statistics evaluation normalises with.

use super::shape::{EPS, MOMENTUM};

/// The running statistics' update from one batch's, as PyTorch's training-mode forward does
/// it: `running = (1 − momentum)·running + momentum·batch`, the batch variance made unbiased
/// (× m/(m − 1)) first, and `num_batches_tracked` counted. `mean` and `var` are the batch's
/// mean and biased variance over `m` rows; `running` is `[mean (C), var (C), count (1)]`.
pub fn running_update(running: &mut [f32], (mean, var): (&[f32], &[f32]), m: usize) {
    let c = mean.len();
    let unbias = m as f32 / (m as f32 - 1.0);
    for i in 0..c {
        running[i] = (1.0 - MOMENTUM) * running[i] + MOMENTUM * mean[i];
        running[c + i] = (1.0 - MOMENTUM) * running[c + i] + MOMENTUM * var[i] * unbias;
    }
    running[2 * c] += 1.0;
}

/// The statistics [`super::prepare_apply`] normalises with in evaluation, from the running ones
/// (`[mean (C), var (C), count]`): a whole [`super::BnShape::stats_len`] run, mean and
/// 1/√(var + eps) first.
pub fn eval_stats(running: &[f32], c: usize) -> Vec<f32> {
    let mut s = vec![0.0; 5 * c];
    for i in 0..c {
        s[i] = running[i];
        s[c + i] = 1.0 / (running[c + i] + EPS).sqrt();
        s[2 * c + i] = running[c + i];
    }
    s
}
