//! SAMPa-λ (Xie, Pethick and Cevher, NeurIPS 2024; Algorithm 1): the perturbation comes from
//! g_y, the gradient at the previous look-ahead point, instead of a gradient at x, so the two
//! gradients of a step are independent of each other and can run at the same time. g_y has a
//! buffer of its own, so λ = 0 still perturbs by it (the official code divides a summed buffer
//! by λ and turns λ = 0 into SGD). On the first step g_y = 0: x̃ = y = x on the first batch,
//! and the step is plain SGD.

use super::base;
use super::config::OptimizerConfig;
use super::oracle::{RefGradient, RefStep};
use super::program::On::{Current, Previous};
use super::program::Vector::*;
use super::program::{Op, Program};
use super::{sam_on, vasso};
use crate::kernels::perturb;

/// The GPU program. B_t is the previous batch, B_t+1 the one just loaded.
pub fn program(c: &OptimizerConfig) -> Program {
    // d = g_y, or VaSSO's d = (1 − θ)·d + θ·g_y; then its part on the normalisation layers
    // alone with --perturb-only norm
    let (average, d) = vasso::direction(c, GY);
    let (mask, d) = sam_on::direction(c, d);
    let ops = [
        average,
        mask,
        vec![
            // x̃ = x + ρ·d/‖d‖
            Op::perturb(d, XTilde),
            // y = where the base step would move x with g_y (SGD: x − lr·(g_y + wd·x + μ·buf))
            Op::look_ahead(GY, Y, c.lookahead),
            // In parallel:  g̃ = ∇f(x̃; B_t)  and  g_y = ∇f(y; B_t+1)
            Op::grad("x~", XTilde, Previous, GTilde),
            Op::grad("y", Y, Current, GY),
            // x ← base step with (1 − λ)·g̃ + λ·g_y
            Op::step_mix(GTilde, GY, c.lambda),
        ],
    ];
    Program::new(ops.concat(), "y").carrying(&[&[GY], vasso::carries(c)].concat())
}

/// The f64 reference of the same step; `g_y` and VaSSO's `average` are carried from step to
/// step.
pub fn reference(s: &RefStep<'_>, g_y: &mut Vec<f64>, average: &mut [f64]) -> RefGradient {
    let d = vasso::reference(&s.config, average, g_y);
    let d = sam_on::reference(&s.config, s.model, d);
    let xt = perturb::reference(s.perturbation(), s.x, &d);
    let y = if s.steps == 0 {
        s.x.to_vec()
    } else {
        let mode = s.config.lookahead;
        base::reference_lookahead(s.hyper, mode, s.steps, g_y, s.x, s.state)
    };
    let gp = (s.grad)(&xt, s.previous);
    let gn = (s.grad)(&y, s.batch);
    let l = s.config.lambda as f64;
    let grad = gp
        .grad
        .iter()
        .zip(&gn.grad)
        .map(|(p, n)| (1.0 - l) * p + l * n)
        .collect();
    *g_y = gn.grad;
    RefGradient {
        grad,
        loss: gn.loss,
    }
}
