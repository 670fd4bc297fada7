//! SGD with momentum: one gradient at x on the new batch, then the base step.

use super::oracle::{RefGradient, RefStep};
use super::program::{Mix, On, Op, Pass, Program, Vector::*};

/// The GPU program.
pub fn program() -> Program {
    Program::new(
        vec![
            // g = ∇f(x; B)
            Op::Grad(Pass {
                name: "x",
                at: X,
                on: On::Current,
                into: G,
            }),
            // x ← base step with g
            Op::Step(Mix::One(G)),
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
