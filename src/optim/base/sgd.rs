//! SGD as the base optimizer: momentum, weight decay and Nesterov with PyTorch's semantics
//! (`kernels::sgd`). Its state is the momentum buffer; its look-ahead is x − lr·d, d the
//! direction the step would take (the official SAMPa code's), and its step can also write the
//! next look-ahead point in the same pass.

use super::super::program::Vector;
use super::params::Params;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::decay::DecayMask;
use crate::kernels::sgd::{self as kernel, Lookahead, SgdHyper, SgdStep};
use crate::kernels::{VectorForm, View};

/// The state: PyTorch's `momentum_buffer`.
pub const STATE: &[Vector] = &[Vector::Momentum];

/// The f64 step after `steps` steps taken (the first initialises the momentum buffer).
pub fn reference_step(
    h: SgdHyper,
    steps: usize,
    grad: &[f64],
    (x, state): (&mut [f64], &mut [Vec<f64>]),
    decay: Option<&DecayMask>,
) {
    kernel::reference_step(h, steps == 0, grad, (x, &mut state[0]), decay);
}

/// The f64 look-ahead: where [`reference_step`] would move x after the first step.
pub fn reference_lookahead(
    h: SgdHyper,
    grad: &[f64],
    (x, state): (&[f64], &[Vec<f64>]),
    decay: Option<&DecayMask>,
) -> Vec<f64> {
    kernel::reference_lookahead(h, false, grad, (x, &state[0]), decay)
}

pub(super) fn prepare_step(
    gpu: &Gpu,
    form: VectorForm,
    grads: [View<'_>; 2],
    p: Params<'_, '_>,
    y: Option<View<'_>>,
) -> Result<SgdStep> {
    let at = (p.x, p.state[0]);
    match y {
        Some(y) => SgdStep::prepare_with_lookahead(gpu, form, grads, at, p.decay, y),
        None => SgdStep::prepare(gpu, form, grads, at, p.decay),
    }
}

pub(super) fn prepare_look(
    gpu: &Gpu,
    form: VectorForm,
    g: View<'_>,
    p: Params<'_, '_>,
    y: View<'_>,
) -> Result<Lookahead> {
    Lookahead::prepare(gpu, form, g, (p.x, p.state[0], p.decay), y)
}
