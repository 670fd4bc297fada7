//! Adam and AdamW as the base optimizer (`kernels::adam`, PyTorch's semantics, amsgrad off).
//! Their state is the first and second moments; the step count t, which the bias corrections
//! take, is the trainer's. The look-ahead is where the step would move x with the moments read
//! but not written. The kernels have a storage-buffer form only, on every adapter.

use super::super::program::Vector;
use super::params::Params;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::View;
use crate::kernels::adam::{self as kernel, AdamHyper, AdamLookahead, AdamStep};
use crate::kernels::decay::DecayMask;

/// The state: PyTorch's `exp_avg` and `exp_avg_sq`.
pub const STATE: &[Vector] = &[Vector::ExpAvg, Vector::ExpAvgSq];

/// The f64 step after `steps` steps taken (bias corrections with t = steps + 1).
pub fn reference_step(
    h: AdamHyper,
    steps: usize,
    grad: &[f64],
    (x, state): (&mut [f64], &mut [Vec<f64>]),
    decay: Option<&DecayMask>,
) {
    let [m, v] = state else {
        unreachable!("Adam's state is two vectors")
    };
    kernel::reference_step(h, steps + 1, grad, (x, [m, v]), decay);
}

/// The f64 look-ahead after `steps` steps taken: where the next step would move x.
pub fn reference_lookahead(
    h: AdamHyper,
    steps: usize,
    grad: &[f64],
    (x, state): (&[f64], &[Vec<f64>]),
    decay: Option<&DecayMask>,
) -> Vec<f64> {
    kernel::reference_lookahead(h, steps + 1, grad, (x, [&state[0], &state[1]]), decay)
}

pub(super) fn prepare_step(
    gpu: &Gpu,
    grads: [View<'_>; 2],
    p: Params<'_, '_>,
    y: Option<View<'_>>,
) -> Result<AdamStep> {
    if y.is_some() {
        return Err(Error::Invalid(
            "Adam's step does not write the look-ahead point; prepare the look-ahead apart".into(),
        ));
    }
    AdamStep::prepare(gpu, grads, (p.x, [p.state[0], p.state[1]]), p.decay)
}

pub(super) fn prepare_look(
    gpu: &Gpu,
    g: View<'_>,
    p: Params<'_, '_>,
    y: View<'_>,
) -> Result<AdamLookahead> {
    AdamLookahead::prepare(gpu, g, (p.x, [p.state[0], p.state[1]]), p.decay, y)
}
