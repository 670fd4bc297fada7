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
    // With m-sharpness all but the step run per group of the batch, and the step takes the
    // mean of the groups' g̃.
    let (mean, g) = match c.m_sharpness {
        Some(_) => (vec![Op::accumulate(GTilde, GroupMean)], GroupMean),
        None => (Vec::new(), GTilde),
    };
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
        ],
        mean,
        // x ← base step with g̃ (the groups' mean)
        vec![Op::step(g)],
    ];
    Program::new(ops.concat(), "x")
        .carrying(vasso::carries(c))
        .grouped(c.m_sharpness)
}

/// The f64 reference of the same step; `average` is VaSSO's d, carried from step to step.
/// With m-sharpness, the mean over the groups of each group's step, and the loss over the
/// whole batch.
pub fn reference(s: &RefStep<'_>, average: &mut [f64]) -> RefGradient {
    let Some(m) = s.config.m_sharpness else {
        return one_group(s, s.batch, average);
    };
    let mut groups = Vec::new();
    crate::data::split_groups(s.batch, m, &mut groups);
    let mut grad = vec![0.0; s.x.len()];
    let mut loss = 0.0;
    for group in &groups {
        let r = one_group(s, group, average);
        grad.iter_mut().zip(&r.grad).for_each(|(a, g)| *a += g);
        loss += r.loss * group.len() as f64;
    }
    grad.iter_mut().for_each(|a| *a /= groups.len() as f64);
    RefGradient {
        grad,
        loss: loss / s.batch.len() as f64,
    }
}

/// SAM's step on `batch`: the perturbed gradient and the loss at x.
fn one_group(s: &RefStep<'_>, batch: &crate::data::Batch, average: &mut [f64]) -> RefGradient {
    let e1 = (s.grad)(s.x, batch);
    let d = vasso::reference(&s.config, average, &e1.grad);
    let d = sam_on::reference(&s.config, s.model, d);
    let xt = perturb::reference(s.perturbation(), s.x, &d);
    let e2 = (s.grad)(&xt, batch);
    RefGradient {
        grad: e2.grad,
        loss: e1.loss,
    }
}
