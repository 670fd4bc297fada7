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
    if c.m_sharpness.is_some() {
        return grouped(c);
    }
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

/// The program with m-sharpness (`train/grouped_pair.rs` runs it): B_t and B_t+1 are each
/// split into groups of M consecutive examples. Group s of B_t is perturbed by its own g_y,
/// the gradient at the last look-ahead point on group s of B_t (kept per group from the last
/// step), and group s of B_t+1 gives the new one. The look-ahead point is one, from the mean
/// of the groups' g_y, which is what the update mixes in. With one group it is SAMPa's
/// program, bit for bit.
fn grouped(c: &OptimizerConfig) -> Program {
    // d = group s's g_y, or its part on the normalisation layers with --perturb-only norm
    let (mask, d) = sam_on::direction(c, GyGroup);
    let ops = [
        // y = where the base step would move x with the mean of the groups' g_y; once
        vec![Op::look_ahead(GY, Y, c.lookahead)],
        // then per group s:
        mask,
        vec![
            // x̃_s = x + ρ·d/‖d‖
            Op::perturb(d, XTilde),
            // In parallel:  g̃_s = ∇f(x̃_s; group s of B_t)  and  g_y,s = ∇f(y; group s of B_t+1)
            Op::grad("x~", XTilde, Previous, GTilde),
            Op::grad("y", Y, Current, GyGroup),
            // the sums of both over the groups, divided by their counts after the last
            Op::accumulate(GTilde, GroupMean),
            Op::accumulate(GyGroup, GY),
        ],
        // x ← base step with (1 − λ)·mean g̃_s + λ·mean g_y,s
        vec![Op::step_mix(GroupMean, GY, c.lambda)],
    ];
    Program::new(ops.concat(), "y")
        .carrying(&[GY])
        .grouped(c.m_sharpness)
}

/// The f64 reference of the same step; `g_y` and VaSSO's `average` are carried from step to
/// step, and with m-sharpness each group's g_y in `kept`.
pub fn reference(
    s: &RefStep<'_>,
    (g_y, kept): (&mut Vec<f64>, &mut Vec<Vec<f64>>),
    average: &mut [f64],
) -> RefGradient {
    if let Some(m) = s.config.m_sharpness {
        return grouped_reference(s, m, g_y, kept);
    }
    let d = vasso::reference(&s.config, average, g_y);
    let d = sam_on::reference(&s.config, s.model, d);
    let xt = perturb::reference(s.perturbation(), s.x, &d);
    let y = lookahead_point(s, g_y);
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

/// The reference of [`grouped`]: the passes in the trainer's order, group by group, x̃'s
/// before y's (a batch with fewer groups than the other skips its pass there).
fn grouped_reference(
    s: &RefStep<'_>,
    m: usize,
    g_y: &mut Vec<f64>,
    kept: &mut Vec<Vec<f64>>,
) -> RefGradient {
    let (mut previous, mut current) = (Vec::new(), Vec::new());
    crate::data::split_groups(s.previous, m, &mut previous);
    crate::data::split_groups(s.batch, m, &mut current);
    let n = s.x.len();
    kept.resize(previous.len().max(current.len()), vec![0.0; n]);
    let y = lookahead_point(s, g_y);
    let (mut perturbed, mut at_y) = (vec![0.0; n], vec![0.0; n]);
    let mut loss = 0.0;
    for (group, kept) in kept.iter_mut().enumerate() {
        if let Some(b) = previous.get(group) {
            let d = sam_on::reference(&s.config, s.model, kept.clone());
            let xt = perturb::reference(s.perturbation(), s.x, &d);
            let e = (s.grad)(&xt, b);
            perturbed.iter_mut().zip(&e.grad).for_each(|(a, g)| *a += g);
        }
        if let Some(b) = current.get(group) {
            let e = (s.grad)(&y, b);
            at_y.iter_mut().zip(&e.grad).for_each(|(a, g)| *a += g);
            loss += e.loss * b.len() as f64;
            *kept = e.grad;
        }
    }
    let (p, c) = (previous.len() as f64, current.len() as f64);
    let l = s.config.lambda as f64;
    *g_y = at_y.iter().map(|g| g / c).collect();
    let grad = perturbed
        .iter()
        .zip(g_y.iter())
        .map(|(a, g)| (1.0 - l) * (a / p) + l * g)
        .collect();
    RefGradient {
        grad,
        loss: loss / s.batch.len() as f64,
    }
}

/// The f64 look-ahead point y from the carried g_y: x itself before the first step.
fn lookahead_point(s: &RefStep<'_>, g_y: &[f64]) -> Vec<f64> {
    if s.steps == 0 {
        return s.x.to_vec();
    }
    let mode = s.config.lookahead;
    base::reference_lookahead(s.hyper, (mode, s.steps), g_y, (s.x, s.state), s.decay)
}
