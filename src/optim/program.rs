//! An optimizer as a program: a short list of operations on named vectors, each as long as the
//! flat parameter vector. The same program runs on any device (`crate::train::Trainer` records
//! it) under any schedule, which only decides where its independent gradient passes run.
//!
//! Every program ends with one base step on x (`super::base`: SGD, Adam or AdamW, whichever
//! the run names; a program never names one), fed with gradients taken somewhere other than at
//! x. The vectors a program carries from one step to the next (SAMPa's g_y, OptSAM's previous
//! gradient) and the base's state are part of a checkpoint.

pub use super::ops::{Mix, On, Op, Pass, Vector};

/// A grouped step's passes in the order they run, as (group, pass) pairs: group by group, a
/// group's passes in program order, pass i only in the `groups[i]` groups its batch has (at
/// an epoch's end SAMPa's two batches can have different numbers).
pub fn group_order(groups: &[usize]) -> Vec<(usize, usize)> {
    let most = groups.iter().copied().max().unwrap_or(0);
    (0..most)
        .flat_map(|s| {
            (0..groups.len())
                .filter(move |&i| s < groups[i])
                .map(move |i| (s, i))
        })
        .collect()
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
    /// m-sharpness: the operations of [`Program::per_group`] run once per group of this many
    /// consecutive examples of the batch, on that group alone.
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

    /// The operations a grouped program repeats per group: those after its leading
    /// look-ahead (SAMPa's y, which is one point for every group) up to its last
    /// accumulation.
    pub fn per_group(&self) -> std::ops::Range<usize> {
        let start = self
            .ops
            .iter()
            .take_while(|op| matches!(op, Op::LookAhead { .. }))
            .count();
        let end = self
            .ops
            .iter()
            .rposition(|op| matches!(op, Op::Accumulate { .. }))
            .map_or(start, |k| k + 1);
        start..end
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
