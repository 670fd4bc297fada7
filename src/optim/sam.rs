//! SAM: a gradient at x, the perturbation ρ·g/‖g‖ (adaptive or unnormalised as asked), then
//! the base step with the gradient at the perturbed point, both on the same batch.

use super::oracle::{RefGradient, RefStep};
use super::program::On::Current;
use super::program::Vector::*;
use super::program::{Op, Program};
use crate::kernels::perturb;

/// The GPU program.
pub fn program() -> Program {
    Program::new(
        vec![
            // g = ∇f(x; B)
            Op::grad("x", X, Current, G),
            // x̃ = x + ρ·g/‖g‖
            Op::perturb(G, XTilde),
            // g̃ = ∇f(x̃; B)
            Op::grad("x~", XTilde, Current, GTilde),
            // x ← base step with g̃
            Op::step(GTilde),
        ],
        "x",
    )
}

/// The f64 reference of the same step.
pub fn reference(s: &RefStep<'_>) -> RefGradient {
    let e1 = (s.grad)(s.x, s.batch);
    let xt = perturb::reference(s.perturbation(), s.x, &e1.grad);
    let e2 = (s.grad)(&xt, s.batch);
    RefGradient {
        grad: e2.grad,
        loss: e1.loss,
    }
}
