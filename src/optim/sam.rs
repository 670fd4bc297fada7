//! SAM: a gradient at x, the perturbation ρ·g/‖g‖ (adaptive or unnormalised as asked; along
//! VaSSO's average of g with `--vasso-theta`, on the normalisation layers alone with
//! `--perturb-only norm`), then the base step with the gradient at the perturbed point, both
//! on the same batch.

use super::config::OptimizerConfig;
use super::oracle::{RefGradient, RefStep};
use super::program::On::Current;
use super::program::Vector::*;
use super::program::{Op, Program};
use super::{sam_on, vasso};
use crate::kernels::perturb;

/// The GPU program.
pub fn program(c: &OptimizerConfig) -> Program {
    // d = g, or VaSSO's d = (1 − θ)·d + θ·g; then its part on the normalisation layers alone
    // with --perturb-only norm
    let (average, d) = vasso::direction(c, G);
    let (mask, d) = sam_on::direction(c, d);
    let ops = [
        // g = ∇f(x; B)
        vec![Op::grad("x", X, Current, G)],
        average,
        mask,
        vec![
            // x̃ = x + ρ·d/‖d‖
            Op::perturb(d, XTilde),
            // g̃ = ∇f(x̃; B)
            Op::grad("x~", XTilde, Current, GTilde),
            // x ← base step with g̃
            Op::step(GTilde),
        ],
    ];
    Program::new(ops.concat(), "x").carrying(vasso::carries(c))
}

/// The f64 reference of the same step; `average` is VaSSO's d, carried from step to step.
pub fn reference(s: &RefStep<'_>, average: &mut [f64]) -> RefGradient {
    let e1 = (s.grad)(s.x, s.batch);
    let d = vasso::reference(&s.config, average, &e1.grad);
    let d = sam_on::reference(&s.config, s.model, d);
    let xt = perturb::reference(s.perturbation(), s.x, &d);
    let e2 = (s.grad)(&xt, s.batch);
    RefGradient {
        grad: e2.grad,
        loss: e1.loss,
    }
}
