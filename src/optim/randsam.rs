//! RandSAM, the paper's naive parallel baseline: the perturbation along a random direction
//! u ~ N(0, I) from a seeded generator, ρ·u/‖u‖, and the base step with the gradient there (a
//! reconstruction from the paper's prose).

use super::oracle::{RefGradient, RefStep};
use super::program::On::Current;
use super::program::Vector::*;
use super::program::{Op, Program};
use crate::kernels::perturb;
use crate::rng::Pcg;

/// The generator stream of RandSAM's directions (seeded by the run's seed).
pub const NOISE_STREAM: u64 = 0x5a3;

/// The GPU program.
pub fn program() -> Program {
    Program::new(
        vec![
            // u ~ N(0, I)
            Op::Noise { into: Noise },
            // x̃ = x + ρ·u/‖u‖
            Op::perturb(Noise, XTilde),
            // g̃ = ∇f(x̃; B)
            Op::grad("x~", XTilde, Current, G),
            // x ← base step with g̃
            Op::step(G),
        ],
        "x~",
    )
}

/// The f64 reference of the same step, drawing u from `noise` as the GPU run does.
pub fn reference(s: &RefStep<'_>, noise: &mut Pcg) -> RefGradient {
    let u: Vec<f64> = (0..s.x.len()).map(|_| noise.normal() as f64).collect();
    let e = (s.grad)(&perturb::reference(s.perturbation(), s.x, &u), s.batch);
    RefGradient {
        grad: e.grad,
        loss: e.loss,
    }
}
