//! SGD as the base optimizer: momentum, weight decay and Nesterov with PyTorch's semantics
//! (`kernels::sgd`). Its state is the momentum buffer; its look-ahead is x − lr·d, d the
//! direction the step would take (the official SAMPa code's), and its step can also write the
//! next look-ahead point in the same pass.

use super::super::program::Vector;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::sgd::{self as kernel, Lookahead, SgdHyper, SgdStep};
use crate::kernels::{VectorForm, View};

/// The state: PyTorch's `momentum_buffer`.
pub const STATE: &[Vector] = &[Vector::Momentum];

/// The f64 step after `steps` steps taken (the first initialises the momentum buffer).
pub fn reference_step(
    h: SgdHyper,
    steps: usize,
    grad: &[f64],
    x: &mut [f64],
    state: &mut [Vec<f64>],
) {
    kernel::reference_step(h, steps == 0, grad, x, &mut state[0]);
}

/// The f64 look-ahead: where [`reference_step`] would move x after the first step.
pub fn reference_lookahead(h: SgdHyper, grad: &[f64], x: &[f64], state: &[Vec<f64>]) -> Vec<f64> {
    kernel::reference_lookahead(h, false, grad, x, &state[0])
}

pub(super) fn prepare_step(
    gpu: &Gpu,
    form: VectorForm,
    grads: [View<'_>; 2],
    (x, state): (View<'_>, &[View<'_>]),
    y: Option<View<'_>>,
) -> Result<SgdStep> {
    match y {
        Some(y) => SgdStep::prepare_with_lookahead(gpu, form, grads, (x, state[0]), y),
        None => SgdStep::prepare(gpu, form, grads, x, state[0]),
    }
}

pub(super) fn prepare_look(
    gpu: &Gpu,
    form: VectorForm,
    g: View<'_>,
    (x, state): (View<'_>, &[View<'_>]),
    y: View<'_>,
) -> Result<Lookahead> {
    Lookahead::prepare(gpu, form, g, (x, state[0]), y)
}
