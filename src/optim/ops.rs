//! What an optimizer's program is made of: the named vectors (each as long as the flat
//! parameter vector), the gradient passes, and the operations on them. `super::program`
//! strings them into a step.

use super::config::LookaheadMode;

/// A named vector, as long as the parameter vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Vector {
    /// The parameters x.
    X,
    /// SGD's momentum buffer.
    Momentum,
    /// Adam's first moment (PyTorch's `exp_avg`).
    ExpAvg,
    /// Adam's second moment (PyTorch's `exp_avg_sq`).
    ExpAvgSq,
    /// The perturbed point x̃.
    XTilde,
    /// SAMPa's look-ahead point y.
    Y,
    /// A gradient at x (SAM's first gradient; the one gradient of SGD and the baselines).
    G,
    /// The gradient at x̃.
    GTilde,
    /// SAMPa's g_y: the gradient at the look-ahead point, carried to the next step.
    GY,
    /// RandSAM's random direction.
    Noise,
    /// VaSSO's average d of the perturbation's gradients, carried to the next step.
    Average,
    /// A direction with every element outside the normalisation layers' parameters zeroed
    /// (SAM-ON's g_N).
    Masked,
    /// GSAM's update gradient: the perturbed gradient less α times the part of the gradient
    /// at x orthogonal to it (and LookSAM's between its SAM steps).
    Surrogate,
    /// LookSAM's g_v: the part of the last SAM step's perturbed gradient orthogonal to its
    /// gradient at x, carried to the steps in between.
    Orthogonal,
    /// The base step's gradient clipped by its norm (`--clip-norm`).
    Clipped,
    /// The mean over a batch's groups of a gradient taken per group (m-sharpness).
    GroupMean,
    /// SAMPa with m-sharpness: one group's g_y. The group's kept g_y from the last step is
    /// copied in to perturb by, and the group's y pass then writes its new one.
    GyGroup,
}

impl Vector {
    /// The name of a base optimizer's state vector as PyTorch's optimizers name their state
    /// (a checkpoint stores it as `optimizer.<name>`); `None` for every other vector.
    pub fn state_name(self) -> Option<&'static str> {
        match self {
            Vector::Momentum => Some("momentum"),
            Vector::ExpAvg => Some("exp_avg"),
            Vector::ExpAvgSq => Some("exp_avg_sq"),
            _ => None,
        }
    }
}

/// The batch a gradient pass is taken on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum On {
    /// The batch loaded for this step.
    Current,
    /// The previous step's batch (the current one on the first step; it carries across
    /// epochs).
    Previous,
    /// The examples of the current batch that the step's [`Op::Select`] chose, in batch order.
    Selected,
}

/// One gradient pass: ∇L(at; batch) into `into`. Its name lets policies and reports point
/// at it (`x`, `x~`, `y`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pass {
    /// The pass's name.
    pub name: &'static str,
    /// Where the gradient is taken.
    pub at: Vector,
    /// On which batch.
    pub on: On,
    /// Where it goes.
    pub into: Vector,
}

/// The gradient the base step takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mix {
    /// One gradient.
    One(Vector),
    /// (1 − λ)·a + λ·b.
    Lambda(Vector, Vector, f32),
}

/// One operation of a program.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// `into` = x + e(along): SAM's perturbation of x along a direction, ρ·d/(‖d‖ + eps),
    /// adaptive or unnormalised as the optimizer's options say.
    Perturb {
        /// The direction.
        along: Vector,
        /// The perturbed point.
        into: Vector,
    },
    /// `into` = where the base step would move x with gradient `grad` (all of it with the
    /// official code's look-ahead, `x − lr·grad` with the paper's). On the first step there is
    /// no such gradient yet, and `into` = x exactly.
    LookAhead {
        /// The gradient.
        grad: Vector,
        /// The look-ahead point.
        into: Vector,
        /// Which look-ahead.
        mode: LookaheadMode,
    },
    /// `into` = a direction drawn from N(0, I) with the optimizer's seeded generator.
    Noise {
        /// Where it goes.
        into: Vector,
    },
    /// `into` = (1 − θ)·`into` + θ·`from`: an exponential average of `from` over the steps
    /// (VaSSO's d; `into` is zero before the first step).
    Average {
        /// What is averaged.
        from: Vector,
        /// The average, updated in place.
        into: Vector,
        /// The weight of the new value.
        theta: f32,
    },
    /// `into` = `from`/`keep` on a random choice of parameter tensors, each chosen with
    /// probability `keep` (drawn per step with the optimizer's seeded generator), and 0
    /// elsewhere (ESAM's stochastic weight perturbation).
    DropTensors {
        /// The direction.
        from: Vector,
        /// Its part on the chosen tensors, scaled.
        into: Vector,
        /// The probability of keeping a tensor.
        keep: f32,
    },
    /// `into` = x + ρ·`along`/(‖`norm_of`‖ + eps): a perturbation along one vector scaled by
    /// another's norm (ESAM's, along the chosen tensors' gradient, by the whole gradient's
    /// norm).
    PerturbBy {
        /// The direction.
        along: Vector,
        /// The vector whose norm divides it.
        norm_of: Vector,
        /// The perturbed point.
        into: Vector,
    },
    /// Choose the ⌈`keep`·B⌉ examples of the current batch whose loss rose most from the
    /// point of pass `from` to `at` (a loss-only pass at `at` on the whole batch), for the
    /// passes on [`On::Selected`] (ESAM's sharpness-sensitive data selection).
    Select {
        /// The pass whose per-example losses are the baseline.
        from: &'static str,
        /// The point the losses rose to.
        at: Vector,
        /// The fraction of the batch chosen.
        keep: f32,
    },
    /// `into` = `from` on the normalisation layers' parameters and 0 elsewhere (SAM-ON).
    MaskNorm {
        /// The direction.
        from: Vector,
        /// Its part on the normalisation layers.
        into: Vector,
    },
    /// `into` = `gp` − α·(`g` − c·`gp`), c = (g · gp) / ‖gp‖²: GSAM's update gradient, the
    /// perturbed gradient `gp` less α times the part of `g` orthogonal to it.
    Decompose {
        /// The gradient at x.
        g: Vector,
        /// The gradient at the perturbed point.
        gp: Vector,
        /// The update gradient.
        into: Vector,
        /// α.
        alpha: f32,
    },
    /// `into` = `gs` − c·`g`, c = (g · gs) / ‖g‖²: the part of `gs` orthogonal to `g`
    /// (LookSAM's g_v).
    Project {
        /// The gradient at x.
        g: Vector,
        /// The perturbed gradient.
        gs: Vector,
        /// Its part orthogonal to g.
        into: Vector,
    },
    /// `into` = `g` + α·(‖g‖/‖v‖)·`v`: LookSAM's gradient between its SAM steps.
    Reuse {
        /// The step's gradient at x.
        g: Vector,
        /// The kept g_v.
        v: Vector,
        /// The update gradient.
        into: Vector,
        /// α.
        alpha: f32,
    },
    /// `into` = the mean over the step's groups of `from` as each group leaves it; the last
    /// accumulation ends the operations a grouped program repeats per group
    /// (`Program::grouped`).
    Accumulate {
        /// What each group computed.
        from: Vector,
        /// The mean.
        into: Vector,
    },
    /// A gradient pass.
    Grad(Pass),
    /// The base step on x with `mix`.
    Step(Mix),
}

impl Op {
    /// [`Op::Perturb`]: `into` = x + e(`along`).
    pub fn perturb(along: Vector, into: Vector) -> Op {
        Op::Perturb { along, into }
    }

    /// [`Op::LookAhead`]: `into` = where the base step would move x with `grad`.
    pub fn look_ahead(grad: Vector, into: Vector, mode: LookaheadMode) -> Op {
        Op::LookAhead { grad, into, mode }
    }

    /// [`Op::Average`]: `into` = (1 − θ)·`into` + θ·`from`.
    pub fn average(from: Vector, into: Vector, theta: f32) -> Op {
        Op::Average { from, into, theta }
    }

    /// [`Op::MaskNorm`]: `into` = `from` on the normalisation layers, 0 elsewhere.
    pub fn mask_norm(from: Vector, into: Vector) -> Op {
        Op::MaskNorm { from, into }
    }

    /// [`Op::Decompose`]: `into` = GSAM's update gradient from `g` and `gp`.
    pub fn decompose(g: Vector, gp: Vector, into: Vector, alpha: f32) -> Op {
        Op::Decompose { g, gp, into, alpha }
    }

    /// [`Op::Project`]: `into` = the part of `gs` orthogonal to `g`.
    pub fn project(g: Vector, gs: Vector, into: Vector) -> Op {
        Op::Project { g, gs, into }
    }

    /// [`Op::Reuse`]: `into` = `g` + α·(‖g‖/‖v‖)·`v`.
    pub fn reuse(g: Vector, v: Vector, into: Vector, alpha: f32) -> Op {
        Op::Reuse { g, v, into, alpha }
    }

    /// [`Op::DropTensors`]: `into` = `from`/`keep` on tensors kept with probability `keep`.
    pub fn drop_tensors(from: Vector, into: Vector, keep: f32) -> Op {
        Op::DropTensors { from, into, keep }
    }

    /// [`Op::PerturbBy`]: `into` = x + ρ·`along`/(‖`norm_of`‖ + eps).
    pub fn perturb_by(along: Vector, norm_of: Vector, into: Vector) -> Op {
        Op::PerturbBy {
            along,
            norm_of,
            into,
        }
    }

    /// [`Op::Select`]: choose the ⌈`keep`·B⌉ examples whose loss rose most from pass `from`'s
    /// point to `at`.
    pub fn select(from: &'static str, at: Vector, keep: f32) -> Op {
        Op::Select { from, at, keep }
    }

    /// [`Op::Accumulate`]: `into` = the mean over the groups of `from`.
    pub fn accumulate(from: Vector, into: Vector) -> Op {
        Op::Accumulate { from, into }
    }

    /// [`Op::Grad`]: pass `name`, ∇L(`at`; batch `on`) into `into`.
    pub fn grad(name: &'static str, at: Vector, on: On, into: Vector) -> Op {
        Op::Grad(Pass { name, at, on, into })
    }

    /// [`Op::Step`] with one gradient.
    pub fn step(g: Vector) -> Op {
        Op::Step(Mix::One(g))
    }

    /// [`Op::Step`] with (1 − λ)·a + λ·b.
    pub fn step_mix(a: Vector, b: Vector, lambda: f32) -> Op {
        Op::Step(Mix::Lambda(a, b, lambda))
    }
}
