//! GSAM (Zhuang et al., "Surrogate Gap Guided Sharpness-Aware Minimization", ICLR 2022, as the
//! authors' `gradient_decompose`): SAM's two gradients, g at x and g_p at the perturbed point,
//! and a step with g_p − α·(g − (g·g_p/‖g_p‖²)·g_p). Besides descending the perturbed loss it
//! ascends, by α, along the part of g orthogonal to g_p, which lowers the surrogate gap (the
//! perturbed loss less the loss) without raising the perturbed loss. α = 0 is SAM. The
//! authors also decay ρ with the learning rate; sampa keeps ρ fixed, as for every variant.

use super::config::OptimizerConfig;
use super::oracle::{RefGradient, RefStep};
use super::program::On::Current;
use super::program::Vector::*;
use super::program::{Op, Program};
use crate::kernels::{combine, perturb};

/// The GPU program.
pub fn program(c: &OptimizerConfig) -> Program {
    Program::new(
        vec![
            // g = ∇f(x; B)
            Op::grad("x", X, Current, G),
            // x̃ = x + ρ·g/‖g‖
            Op::perturb(G, XTilde),
            // g_p = ∇f(x̃; B)
            Op::grad("x~", XTilde, Current, GTilde),
            // s = g_p − α·(g − (g·g_p/‖g_p‖²)·g_p)
            Op::decompose(G, GTilde, Surrogate, c.gsam_alpha()),
            // x ← base step with s
            Op::step(Surrogate),
        ],
        "x",
    )
}

/// The f64 reference of the same step.
pub fn reference(s: &RefStep<'_>) -> RefGradient {
    let e1 = (s.grad)(s.x, s.batch);
    let xt = perturb::reference(s.perturbation(), s.x, &e1.grad);
    let e2 = (s.grad)(&xt, s.batch);
    let alpha = s.config.gsam_alpha() as f64;
    RefGradient {
        grad: combine::reference_orthogonal((1.0, -alpha), &e1.grad, &e2.grad),
        loss: e1.loss,
    }
}
