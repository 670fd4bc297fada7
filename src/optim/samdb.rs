//! SAM-db: SAM whose perturbation comes from the previous batch's gradient at x, the step's
//! gradient from the new batch at the perturbed point (a reconstruction from the paper's
//! prose). On the first step both batches are the first one, and it is SAM.

use super::oracle::{RefGradient, RefStep};
use super::program::On::{Current, Previous};
use super::program::Vector::*;
use super::program::{Op, Program};
use crate::kernels::perturb;

/// The GPU program.
pub fn program() -> Program {
    Program::new(
        vec![
            // g = ∇f(x; B_prev)
            Op::grad("x", X, Previous, G),
            // x̃ = x + ρ·g/‖g‖
            Op::perturb(G, XTilde),
            // g̃ = ∇f(x̃; B)
            Op::grad("x~", XTilde, Current, GTilde),
            // x ← base step with g̃
            Op::step(GTilde),
        ],
        "x~",
    )
}

/// The f64 reference of the same step.
pub fn reference(s: &RefStep<'_>) -> RefGradient {
    let e1 = (s.grad)(s.x, s.previous);
    let xt = perturb::reference(s.perturbation(), s.x, &e1.grad);
    let e2 = (s.grad)(&xt, s.batch);
    RefGradient {
        grad: e2.grad,
        loss: e2.loss,
    }
}
