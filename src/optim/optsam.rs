//! OptSAM, the paper's "optimistic" naive baseline: the perturbation along the gradient the
//! previous step used, ρ·g_prev/‖g_prev‖ (zero on the first step), and the base step with the
//! gradient at the perturbed point, which the next step reuses (a reconstruction from the
//! paper's prose).

use super::oracle::{RefGradient, RefStep};
use super::program::On::Current;
use super::program::Vector::*;
use super::program::{Op, Program};
use crate::kernels::perturb;

/// The GPU program. g holds the previous step's gradient until the pass overwrites it.
pub fn program() -> Program {
    Program::new(
        vec![
            // x̃ = x + ρ·g_prev/‖g_prev‖
            Op::perturb(G, XTilde),
            // g = ∇f(x̃; B), also the next step's g_prev
            Op::grad("x~", XTilde, Current, G),
            // x ← base step with g
            Op::step(G),
        ],
        "x~",
    )
    .carrying(&[G])
}

/// The f64 reference of the same step; `carried` is g_prev, replaced by this step's gradient.
pub fn reference(s: &RefStep<'_>, carried: &mut Vec<f64>) -> RefGradient {
    let e = (s.grad)(&perturb::reference(s.perturbation(), s.x, carried), s.batch);
    carried.clone_from(&e.grad);
    RefGradient {
        grad: e.grad,
        loss: e.loss,
    }
}
