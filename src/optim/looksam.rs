//! LookSAM (Liu et al., "Towards Efficient and Scalable Sharpness-Aware Minimization", CVPR
//! 2022): SAM's two gradients only on every k-th step (the first included). That step also
//! keeps g_v, the part of the perturbed gradient g_s orthogonal to the gradient g at x,
//! which carries the direction SAM adds to g. The k − 1 steps in between take one gradient g
//! and step with g + α·(‖g‖/‖g_v‖)·g_v: g_v changes slowly, so it is reused at g's scale.
//! k = 1 is SAM, bit for bit. g_v is carried from step to step and saved by checkpoints.

use super::config::OptimizerConfig;
use super::oracle::{RefGradient, RefStep};
use super::program::On::Current;
use super::program::Vector::*;
use super::program::{Alternative, Choice, Op, Program};
use crate::kernels::{combine, perturb};

/// The GPU program: SAM's step with g_v kept, or the reuse of g_v.
pub fn program(c: &OptimizerConfig) -> Program {
    let (k, alpha) = settings(c);
    let full = vec![
        // g = ∇f(x; B)
        Op::grad("x", X, Current, G),
        // x̃ = x + ρ·g/‖g‖
        Op::perturb(G, XTilde),
        // g_s = ∇f(x̃; B)
        Op::grad("x~", XTilde, Current, GTilde),
        // g_v = g_s − (g·g_s/‖g‖²)·g, kept for the steps in between
        Op::project(G, GTilde, Orthogonal),
        // x ← base step with g_s
        Op::step(GTilde),
    ];
    let between = vec![
        // s = g + α·(‖g‖/‖g_v‖)·g_v
        Op::reuse(G, Orthogonal, Surrogate, alpha),
        // x ← base step with s
        Op::step(Surrogate),
    ];
    Program::new(full, "x")
        .carrying(&[Orthogonal])
        .or(Alternative {
            choice: Choice::Every(k),
            shared: 1,
            ops: between,
        })
}

/// k and α: the flags, else the defaults.
pub fn settings(c: &OptimizerConfig) -> (usize, f32) {
    c.looksam()
}

/// The f64 reference of the same step; `g_v` is carried from step to step.
pub fn reference(s: &RefStep<'_>, g_v: &mut Vec<f64>) -> RefGradient {
    let (k, alpha) = settings(&s.config);
    let e1 = (s.grad)(s.x, s.batch);
    if s.steps.is_multiple_of(k) {
        let xt = perturb::reference(s.perturbation(), s.x, &e1.grad);
        let e2 = (s.grad)(&xt, s.batch);
        *g_v = combine::reference_orthogonal((0.0, 1.0), &e2.grad, &e1.grad);
        return RefGradient {
            grad: e2.grad,
            loss: e1.loss,
        };
    }
    RefGradient {
        grad: combine::reference_rescaled(alpha as f64, &e1.grad, g_v),
        loss: e1.loss,
    }
}
