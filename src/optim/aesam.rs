//! AE-SAM (Jiang et al., "An Adaptive Policy to Employ Sharpness-Aware Minimization", ICLR
//! 2023): a SAM step only where the loss surface looks sharp, judged by n_t = ‖g_t‖² of the
//! gradient at x against its running mean and variance:
//!
//! ```text
//! μ_t  = δ·μ_{t−1} + (1 − δ)·n_t             μ_{−1} = n_0
//! σ²_t = δ·σ²_{t−1} + (1 − δ)·(n_t − μ_t)²    σ_{−1} = 0,  δ = 0.9
//! SAM step when n_t ≥ μ_t + c_t·σ_t, else a base step with g_t
//! ```
//!
//! with c_t moving linearly from c0 to c1 over the run's steps, so SAM steps grow rarer. The
//! choice needs n_t on the host before the rest of the step is recorded: the step's first
//! submission ends with ‖g‖² copied out, the host decides with [`AeSamState::decide`] (the
//! same code as the reference's), then records the rest. The statistics and the count of SAM
//! steps are checkpointed.

use super::config::OptimizerConfig;
use super::oracle::{RefGradient, RefStep};
use super::program::On::Current;
use super::program::Vector::*;
use super::program::{Alternative, Choice, Op, Program};
use crate::kernels::perturb;

/// The running statistics' decay δ.
pub const DELTA: f64 = 0.9;

/// The GPU program: SAM's step, or a base step with the gradient at x.
pub fn program(c: &OptimizerConfig) -> Program {
    let [c0, c1] = settings(c);
    let full = vec![
        // g = ∇f(x; B); n = ‖g‖² decides the rest
        Op::grad("x", X, Current, G),
        // x̃ = x + ρ·g/‖g‖
        Op::perturb(G, XTilde),
        // g̃ = ∇f(x̃; B)
        Op::grad("x~", XTilde, Current, GTilde),
        // x ← base step with g̃
        Op::step(GTilde),
    ];
    Program::new(full, "x").or(Alternative {
        choice: Choice::Adaptive { of: G, c0, c1 },
        shared: 1,
        // x ← base step with g
        ops: vec![Op::step(G)],
    })
}

/// c0 and c1: the flags, else the defaults.
pub fn settings(c: &OptimizerConfig) -> [f32; 2] {
    c.aesam()
}

/// c_t of step `t` (steps taken before it) in a run of `run_steps` steps: c0 on the first,
/// c1 on the last, linear between; c0 throughout when the run's length is not known.
pub fn c_at([c0, c1]: [f32; 2], t: usize, run_steps: Option<usize>) -> f64 {
    let (c0, c1) = (c0 as f64, c1 as f64);
    match run_steps {
        Some(total) if total > 1 => {
            let f = (t as f64 / (total - 1) as f64).min(1.0);
            c0 + (c1 - c0) * f
        }
        _ => c0,
    }
}

/// AE-SAM's running statistics of n = ‖g‖², and how many steps were SAM steps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AeSamState {
    /// μ.
    pub mean: f64,
    /// σ².
    pub var: f64,
    /// Steps decided.
    pub steps: usize,
    /// Of those, SAM steps.
    pub sam_steps: usize,
}

impl AeSamState {
    /// Take in step t's n = ‖g_t‖² and c_t; returns whether the step is a SAM step.
    pub fn decide(&mut self, n: f64, c: f64) -> bool {
        let previous = if self.steps == 0 { n } else { self.mean };
        self.mean = DELTA * previous + (1.0 - DELTA) * n;
        self.var = DELTA * self.var + (1.0 - DELTA) * (n - self.mean).powi(2);
        let sam = n >= self.mean + c * self.var.sqrt();
        self.steps += 1;
        self.sam_steps += sam as usize;
        sam
    }
}

/// The f64 reference of the same step, in a run of `run_steps` steps.
pub fn reference(s: &RefStep<'_>, state: &mut AeSamState, run_steps: Option<usize>) -> RefGradient {
    let e1 = (s.grad)(s.x, s.batch);
    let n = e1.grad.iter().map(|g| g * g).sum::<f64>();
    let c = c_at(settings(&s.config), s.steps, run_steps);
    if !state.decide(n, c) {
        return RefGradient {
            grad: e1.grad,
            loss: e1.loss,
        };
    }
    let xt = perturb::reference(s.perturbation(), s.x, &e1.grad);
    RefGradient {
        grad: (s.grad)(&xt, s.batch).grad,
        loss: e1.loss,
    }
}
