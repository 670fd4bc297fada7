//! SGD with momentum: one gradient at x on the new batch, then the base step.

use super::oracle::{RefGradient, RefStep};
use super::program::On::Current;
use super::program::Vector::*;
use super::program::{Op, Program};

/// The GPU program.
pub fn program() -> Program {
    Program::new(
        vec![
            // g = ∇f(x; B)
            Op::grad("x", X, Current, G),
            // x ← base step with g
            Op::step(G),
        ],
        "x",
    )
}

/// The f64 reference of the same step.
pub fn reference(s: &RefStep<'_>) -> RefGradient {
    let e = (s.grad)(s.x, s.batch);
    RefGradient {
        grad: e.grad,
        loss: e.loss,
    }
}
