//! The hyper-parameters of one SGD step, which the kernels and their references take.

/// SGD hyper-parameters for one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdHyper {
    /// Learning rate.
    pub lr: f32,
    /// Momentum factor (0 for plain SGD).
    pub momentum: f32,
    /// Weight decay (L2, added to the gradient).
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl SgdHyper {
    /// The base step of every timed training step (benchmarks and choices by measurement):
    /// the defaults of `sampa train` with a small rate, so long timing runs stay finite.
    pub const TIMED: SgdHyper = SgdHyper {
        lr: 1e-3,
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov: false,
    };
}
