//! An optimizer as a program: a short list of operations on named vectors, each as long as the
//! flat parameter vector. The same program runs on any device (`crate::train::Trainer` records
//! it) under any schedule, which only decides where its independent gradient passes run.
//!
//! Every program ends with one base step on x (`super::base`: SGD, Adam or AdamW, whichever
//! the run names; a program never names one), fed with gradients taken somewhere other than at
//! x. The vectors a program carries from one step to the next (SAMPa's g_y, OptSAM's previous
//! gradient) and the base's state are part of a checkpoint.

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
    /// `into` = the mean over the step's groups of `from` as each group leaves it: the last
    /// operation a grouped program repeats per group (`Program::grouped`).
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

/// When a step takes a program's other form instead of its full one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Choice {
    /// The full form on every k-th step, the first included (LookSAM's k).
    Every(usize),
    /// AE-SAM's rule on n = ‖g‖² of the gradient the shared operations leave in `of`: the full
    /// form when n is at least its running mean plus c running standard deviations, c moving
    /// from `c0` to `c1` over the run (`super::aesam`).
    Adaptive {
        /// The gradient whose squared norm decides.
        of: Vector,
        /// c at the run's first step.
        c0: f32,
        /// c at its last.
        c1: f32,
    },
}

/// A program's second, cheaper form of a step, chosen step by step (LookSAM, AE-SAM).
#[derive(Clone, Debug, PartialEq)]
pub struct Alternative {
    /// Which form a step takes.
    pub choice: Choice,
    /// The operations both forms start with: the program's first `shared`.
    pub shared: usize,
    /// The other form's operations after those; they take no gradient.
    pub ops: Vec<Op>,
}

/// An optimizer's program.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The operations of one step, in order.
    pub ops: Vec<Op>,
    /// The pass whose loss and correct count a step reports: the first over the new batch.
    pub reports: &'static str,
    /// The vectors carried from one step to the next.
    pub carries: Vec<Vector>,
    /// The base optimizer's state vectors, which its step writes beside x.
    pub state: Vec<Vector>,
    /// The step's other form, for programs that skip passes on some steps.
    pub alternative: Option<Alternative>,
    /// m-sharpness: the operations up to the [`Op::Accumulate`] run once per group of this
    /// many consecutive examples of the batch, on that group alone.
    pub grouped: Option<usize>,
}

impl Program {
    /// A program of `ops` reporting pass `reports`, carrying nothing.
    pub fn new(ops: Vec<Op>, reports: &'static str) -> Program {
        Program {
            ops,
            reports,
            carries: Vec::new(),
            // SGD's momentum, until `with_state` names another base's.
            state: vec![Vector::Momentum],
            alternative: None,
            grouped: None,
        }
    }

    /// The same program with its operations up to the accumulation repeated per group of
    /// `m` examples.
    pub fn grouped(mut self, m: Option<usize>) -> Program {
        self.grouped = m;
        self
    }

    /// The operations a grouped program repeats per group: those up to its accumulation.
    pub fn per_group(&self) -> usize {
        self.ops
            .iter()
            .position(|op| matches!(op, Op::Accumulate { .. }))
            .map_or(0, |k| k + 1)
    }

    /// The same program taking `alternative`'s form on the steps its choice says.
    pub fn or(mut self, alternative: Alternative) -> Program {
        self.alternative = Some(alternative);
        self
    }

    /// The operations of a step in the other form: the shared ones, then the alternative's.
    /// The full form when the program has no alternative.
    pub fn other_form(&self) -> Vec<Op> {
        match &self.alternative {
            Some(a) => [&self.ops[..a.shared], &a.ops[..]].concat(),
            None => self.ops.clone(),
        }
    }

    /// Gradient evaluations of a step in the other form, and in sequence.
    pub fn other_form_grads(&self) -> usize {
        let ops = self.other_form();
        ops.iter().filter(|op| matches!(op, Op::Grad(_))).count()
    }

    /// The same program ending with a base step whose state is `state`.
    pub fn with_state(mut self, state: &[Vector]) -> Program {
        self.state = state.to_vec();
        self
    }

    /// The same program carrying `vectors` from step to step.
    pub fn carrying(mut self, vectors: &[Vector]) -> Program {
        self.carries = vectors.to_vec();
        self
    }

    /// The gradient passes, in order.
    pub fn passes(&self) -> Vec<Pass> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                Op::Grad(p) => Some(*p),
                _ => None,
            })
            .collect()
    }

    /// The pass called `name`, by its index among the passes.
    pub fn pass_index(&self, name: &str) -> Option<usize> {
        self.passes().iter().position(|p| p.name == name)
    }

    /// The passes grouped in stages: consecutive passes that do not read what another of the
    /// group writes form one stage, which a schedule may run side by side. Entries are pass
    /// indices.
    pub fn stages(&self) -> Vec<Vec<usize>> {
        let passes = self.passes();
        let mut stages: Vec<Vec<usize>> = Vec::new();
        let mut index = 0;
        let mut previous_was_grad = false;
        for op in &self.ops {
            let Op::Grad(p) = op else {
                previous_was_grad = false;
                continue;
            };
            let joins = previous_was_grad
                && stages.last().is_some_and(|s| {
                    s.iter().all(|&q| {
                        let q = passes[q];
                        q.into != p.at && p.into != q.at && p.into != q.into
                    })
                });
            match stages.last_mut() {
                Some(s) if joins => s.push(index),
                _ => stages.push(vec![index]),
            }
            index += 1;
            previous_was_grad = true;
        }
        stages
    }

    /// Gradient evaluations per step.
    pub fn grads(&self) -> usize {
        self.passes().len()
    }

    /// Gradient evaluations that must run one after another in a step.
    pub fn depth(&self) -> usize {
        self.stages().len()
    }

    /// Whether two gradients of a step are independent, so that a schedule may run them
    /// side by side (SAMPa's pair).
    pub fn has_pair(&self) -> bool {
        self.stages().iter().any(|s| s.len() == 2)
    }

    /// Whether a step uses the previous step's batch.
    pub fn uses_previous_batch(&self) -> bool {
        self.passes().iter().any(|p| p.on == On::Previous)
    }

    /// Every vector the program names, x and the base's state first.
    pub fn vectors(&self) -> Vec<Vector> {
        let mut v = vec![Vector::X];
        v.extend(&self.state);
        let mut add = |x: Vector| {
            if !v.contains(&x) {
                v.push(x)
            }
        };
        let other = self.alternative.iter().flat_map(|a| &a.ops);
        for op in self.ops.iter().chain(other) {
            match *op {
                Op::Perturb { along, into } => [along, into].into_iter().for_each(&mut add),
                Op::Project { g, gs, into } => [g, gs, into].into_iter().for_each(&mut add),
                Op::DropTensors { from, into, .. } => [from, into].into_iter().for_each(&mut add),
                Op::PerturbBy {
                    along,
                    norm_of,
                    into,
                } => [along, norm_of, into].into_iter().for_each(&mut add),
                Op::Select { at, .. } => add(at),
                Op::Accumulate { from, into } => [from, into].into_iter().for_each(&mut add),
                Op::Reuse { g, v, into, .. } => [g, v, into].into_iter().for_each(&mut add),
                Op::LookAhead { grad, into, .. } => [grad, into].into_iter().for_each(&mut add),
                Op::Noise { into } => add(into),
                Op::Average { from, into, .. } => [from, into].into_iter().for_each(&mut add),
                Op::Decompose { g, gp, into, .. } => [g, gp, into].into_iter().for_each(&mut add),
                Op::MaskNorm { from, into } => [from, into].into_iter().for_each(&mut add),
                Op::Grad(p) => [p.at, p.into].into_iter().for_each(&mut add),
                Op::Step(Mix::One(g)) => add(g),
                Op::Step(Mix::Lambda(a, b, _)) => [a, b].into_iter().for_each(&mut add),
            }
        }
        v
    }

    /// Whether `op` writes `v`. The base step writes x and the base's state.
    pub fn writes(&self, op: &Op, v: Vector) -> bool {
        match *op {
            Op::Perturb { into, .. }
            | Op::LookAhead { into, .. }
            | Op::Noise { into }
            | Op::Average { into, .. }
            | Op::Decompose { into, .. }
            | Op::Project { into, .. }
            | Op::Reuse { into, .. }
            | Op::DropTensors { into, .. }
            | Op::PerturbBy { into, .. }
            | Op::Accumulate { into, .. }
            | Op::MaskNorm { into, .. } => into == v,
            Op::Select { .. } => false,
            Op::Grad(p) => p.into == v,
            Op::Step(_) => v == Vector::X || self.state.contains(&v),
        }
    }
}
