//! A trainer: one optimizer's program recorded on one device, with its state over a run.
//! [`Trainer::submit_async`] (in `step.rs`, the step driver) runs the steps, and `state.rs`
//! gives and takes what a checkpoint holds; this file holds the state and where the
//! program's passes are placed.
//!
//! The run's state is the program's vectors on the device (x, the momentum, the carried
//! vectors), the step count, the previous batch (for passes on it) and the optimizer's own
//! generator (RandSAM's), plus the model's non-trainable state vector.

use super::choice::StepChoice;
use super::flight::{InFlight, StepReport};
use super::norm_stats::NormStats;
use super::probes::Diagnosis;
use super::recorder::{self, Recorded, TrainerSpec};
use super::schedule::dual::Dual;
use super::schedule::fused::FusedPair;
use super::schedule::{Placement, Schedule};
use super::shard::Shard;
use super::watch::{self, NormWatch};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf, Readback};
use crate::nn::plan::Plan;
use crate::optim::program::{On, Op, Pass, Vector};
use crate::optim::randsam::NOISE_STREAM;
use crate::rng::Pcg;

/// Where a trainer's pair of independent passes runs, with what that needs.
pub(crate) enum Placed {
    Serial,
    Interleaved,
    Fused(Box<FusedPair>),
    Dual(Dual),
}

/// One optimizer on one device, with every step's dispatches prepared.
pub struct Trainer {
    pub(crate) spec: TrainerSpec,
    pub(crate) rec: Recorded,
    pub(crate) placed: Placed,
    /// The two independent passes of the program's one two-pass stage, if it has one.
    pub(crate) pair: Option<[usize; 2]>,
    /// Two staging buffers for the steps' readbacks (the reported pass's loss and correct
    /// count, the batch statistics, ‖x‖²'s partial sums), used in turn: a step records its
    /// copies while the step before it still waits to be read.
    pub(crate) readbacks: [Readback; 2],
    /// The readback the next step writes.
    pub(crate) slot: usize,
    /// The step submitted and not yet read back.
    pub(crate) in_flight: Option<InFlight>,
    /// A step's report read back before anyone asked for it (a checkpoint or an evaluation
    /// reads the step in flight first).
    pub(crate) settled: Option<StepReport>,
    pub(crate) watch: NormWatch,
    /// The watch over the other form's update, for programs with two forms.
    pub(crate) other_watch: Option<NormWatch>,
    /// Which form each step takes, for programs with two.
    pub(crate) choice: Option<StepChoice>,
    /// ‖x‖² after the last step read back (0 before the first).
    pub(crate) norm_sq: f32,
    /// The look-ahead hyper-parameters with which the last update wrote the next point.
    pub(crate) speculated: Option<crate::optim::BaseHyper>,
    /// Whether the evaluation pass's point holds a copy of x (any step invalidates it).
    pub(crate) x_in_point: bool,
    pub(crate) steps: usize,
    pub(crate) fused_steps: usize,
    pub(crate) previous: Option<Batch>,
    pub(crate) noise: Pcg,
    /// The host side of each step's random directions, reused from step to step.
    pub(crate) noise_host: Vec<f32>,
    /// The pass evaluation at x borrows, and whether x must first be copied into its point.
    pub(crate) evaluation: (usize, bool),
    pub(crate) model_state: Vec<f32>,
    /// The passes that update BatchNorm's running statistics in `model_state`, for models
    /// with BatchNorm.
    pub(crate) norm_stats: Option<NormStats>,
    /// This replica's part in a data-parallel run (`--schedule mpi` with more than one main).
    pub(crate) shard: Option<Shard>,
    /// The examples ESAM's selection chose this step, and the readback of its losses.
    pub(crate) selected: Batch,
    /// m-sharpness: the step's groups (reused), and the division of each accumulated sum by
    /// each count of groups seen.
    pub(crate) groups: Vec<Batch>,
    pub(crate) group_means: Vec<((Vector, usize), crate::kernels::Dispatch)>,
    /// SAMPa with m-sharpness: each group's g_y, and the previous batch's groups.
    pub(crate) kept: Option<super::kept::Kept>,
    pub(crate) selection: Option<crate::gpu::Readback>,
    /// SAMPa's diagnosis (`--diagnose-every`), when asked for.
    pub(crate) diagnosis: Option<Diagnosis>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Trainer({}, {})",
            self.spec.optimizer.label(),
            self.schedule().name()
        )
    }
}

impl Trainer {
    /// Record the program of `spec`'s optimizer on `gpu`, starting from `x0` (laid out as
    /// the model's parameters).
    pub fn new(gpu: &Gpu, spec: TrainerSpec, x0: &[f32]) -> Result<Trainer> {
        Self::with_rewrites(gpu, spec, x0, true)
    }

    /// A trainer of `optimizer` for `model` from its seed-0 initialisation, without label
    /// smoothing, placed as `placement`: what benchmarks and choices by measurement time.
    pub fn seeded(
        gpu: &Gpu,
        (model, kernels): (&crate::nn::Model, crate::kernels::Kernels),
        optimizer: crate::optim::OptimizerConfig,
        placement: Placement,
    ) -> Result<Trainer> {
        let spec = TrainerSpec {
            model: model.clone(),
            smoothing: 0.0,
            optimizer,
            seed: 0,
            kernels,
        };
        let mut t = Self::new(gpu, spec, &model.init(0))?;
        t.set_placement(gpu, placement)?;
        Ok(t)
    }

    /// [`Trainer::new`], with the recorder's rewrites on or off (they change no bits; tests
    /// compare the two).
    pub fn with_rewrites(
        gpu: &Gpu,
        spec: TrainerSpec,
        x0: &[f32],
        rewrite: bool,
    ) -> Result<Trainer> {
        spec.optimizer.validate()?;
        if x0.len() != spec.model.param_count() {
            return Err(Error::shape(
                "trainer",
                format!(
                    "{} has {} parameters, got {}",
                    spec.model.name,
                    spec.model.param_count(),
                    x0.len()
                ),
            ));
        }
        let program = crate::optim::program(&spec.optimizer);
        let pair = program
            .stages()
            .into_iter()
            .find(|s| s.len() == 2)
            .map(|s| [s[0], s[1]]);
        let bn_passes = crate::optim::bn_passes(&spec.optimizer)?;
        let rec = recorder::record(gpu, &spec, program, x0, rewrite)?;
        let norm_stats = NormStats::new(&spec.model, bn_passes);
        let stats = norm_stats.as_ref().map_or(0, NormStats::values);
        let watch = NormWatch::new(gpu, rec.last_update()?, watch::READBACK + stats)?;
        let other_watch = match rec.other_update() {
            Some(s) => Some(NormWatch::new(gpu, s, watch.at())?),
            None => None,
        };
        // Both updates write the same parameters on the same grid.
        assert!(other_watch.as_ref().is_none_or(|w| w.len() == watch.len()));
        let choice = StepChoice::new(gpu, &rec)?;
        let values = watch.at() + watch.len();
        Ok(Trainer {
            readbacks: [Readback::new(gpu, values), Readback::new(gpu, values)],
            slot: 0,
            in_flight: None,
            settled: None,
            norm_stats,
            watch,
            other_watch,
            choice,
            norm_sq: 0.0,
            evaluation: evaluation_pass(&rec),
            noise_host: Vec::new(),
            noise: Pcg::new(spec.seed, NOISE_STREAM),
            model_state: spec.model.init_state(),
            spec,
            rec,
            placed: Placed::Serial,
            pair,
            speculated: None,
            x_in_point: false,
            steps: 0,
            fused_steps: 0,
            previous: None,
            shard: None,
            diagnosis: None,
            selected: Batch::default(),
            groups: Vec::new(),
            group_means: Vec::new(),
            kept: None,
            selection: None,
        })
    }

    /// Place the program's pair of independent passes as `placement` says (programs without
    /// one run serially whatever is asked).
    pub fn set_placement(&mut self, gpu: &Gpu, placement: Placement) -> Result<()> {
        let Some([a, b]) = self.pair else {
            self.placed = Placed::Serial;
            return Ok(());
        };
        self.placed = match placement {
            Placement::Serial => Placed::Serial,
            Placement::Interleaved => Placed::Interleaved,
            Placement::Fused => {
                Placed::Fused(Box::new(FusedPair::new(gpu, &self.rec.evaluators[a])?))
            }
            Placement::Dual(transport) => {
                let point = self.rec.program.passes()[b].at;
                let n = self.rec.vector(point).len;
                Placed::Dual(Dual::new(gpu, transport, n))
            }
        };
        Ok(())
    }

    /// Diagnose every `every` steps (see `probes.rs`): one more gradient pass at x on those
    /// steps, compared with SAMPa's gradient at y. An error for programs without a pass at y.
    pub fn set_diagnosis(&mut self, gpu: &Gpu, every: usize) -> Result<()> {
        if self.rec.program.grouped.is_some() {
            return Err(Error::Invalid(
                "--diagnose-every does not combine with --m-sharpness (each group has a g_y of \
                 its own, so there is no one ∇f(y_t) to compare with); leave one out"
                    .into(),
            ));
        }
        let vector = |v: Vector| self.rec.vector(v).clone();
        let label = self.spec.optimizer.label();
        let of = (
            &label[..],
            &self.rec.passes[..],
            &vector as &dyn Fn(Vector) -> GpuBuf<f32>,
        );
        let s = &self.spec;
        let evaluators = (&s.model, s.smoothing, s.kernels);
        self.diagnosis = Some(Diagnosis::new(gpu, of, evaluators, every)?);
        Ok(())
    }

    /// Gradient passes the diagnosis ran in the first `steps` steps: one per diagnosed step.
    pub fn diagnosis_passes(&self, steps: usize) -> usize {
        self.diagnosis.as_ref().map_or(0, |d| steps / d.every)
    }

    /// The schedule in use.
    pub fn schedule(&self) -> Schedule {
        match &self.placed {
            Placed::Serial => Schedule::Serial,
            Placed::Interleaved => Schedule::Interleaved,
            Placed::Fused(_) => Schedule::Fused,
            Placed::Dual(_) => Schedule::Dual,
        }
    }

    /// The schedule's name, with the worker for `dual`.
    pub fn schedule_name(&self) -> String {
        match &self.placed {
            Placed::Dual(d) => format!("{} (worker: {})", d.transport.schedule(), d.worker()),
            _ => self.schedule().name().to_string(),
        }
    }

    /// Steps whose pair of passes ran fused (a fused run's steps with two batches of one size).
    pub fn fused_steps(&self) -> usize {
        self.fused_steps
    }

    /// ‖x‖² after the last step read back, computed on the device with the step: a run whose
    /// loss is finite can still have diverged parameters.
    pub fn param_norm_sq(&self) -> f32 {
        self.norm_sq
    }

    /// The parameter buffer.
    pub fn params(&self) -> &GpuBuf<f32> {
        self.rec.vector(Vector::X)
    }

    /// What the trainer was built from.
    pub fn spec(&self) -> &TrainerSpec {
        &self.spec
    }

    /// The optimizer's program.
    pub fn program(&self) -> &crate::optim::Program {
        &self.rec.program
    }

    /// Steps taken.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The evaluator of the first gradient pass (for profiling and benchmarks).
    pub fn evaluator(&mut self) -> &mut crate::nn::evaluator::Evaluator {
        &mut self.rec.evaluators[0]
    }

    /// The base step's dispatch (for profiling; a step records it itself).
    pub fn update_dispatch(&self) -> &crate::kernels::Dispatch {
        self.rec
            .ops
            .iter()
            .find_map(|op| match op {
                recorder::Prepared::Step(s, ..) => Some(s.dispatch()),
                _ => None,
            })
            .expect("every program ends with a step")
    }
}

/// The pass evaluation at x borrows, and whether x must first be copied into its point:
/// the first pass at x, else the first pass whose point the step itself rebuilds before it
/// (so a copy of x there harms nothing).
fn evaluation_pass(rec: &Recorded) -> (usize, bool) {
    let passes = &rec.passes;
    if let Some(i) = passes.iter().position(|p| p.at == Vector::X) {
        return (i, false);
    }
    let ops = &rec.program.ops;
    let rebuilt = |i: usize| {
        let at = ops
            .iter()
            .position(|op| matches!(op, Op::Grad(p) if *p == passes[i]));
        at.is_some_and(|k| {
            ops[..k]
                .iter()
                .any(|op| rec.program.writes(op, passes[i].at))
        })
    };
    let i = (0..passes.len()).find(|&i| rebuilt(i)).unwrap_or(0);
    (i, true)
}

/// The batches of one step: the one just loaded, the previous step's (the same one on the
/// first step), and the examples a selection chose (the current batch until one does).
#[derive(Clone, Copy)]
pub(crate) struct Batches<'a> {
    pub current: &'a Batch,
    pub previous: &'a Batch,
    pub selected: &'a Batch,
}

impl<'a> Batches<'a> {
    pub fn new(current: &'a Batch, previous: &'a Option<Batch>) -> Batches<'a> {
        Batches {
            current,
            previous: previous.as_ref().unwrap_or(current),
            selected: current,
        }
    }

    /// The same, with the chosen examples `selected`.
    pub fn with_selected(self, selected: &'a Batch) -> Batches<'a> {
        Batches { selected, ..self }
    }

    /// The batch pass `i` of `passes` takes.
    pub fn of(&self, passes: &[Pass], i: usize) -> &'a Batch {
        match passes[i].on {
            On::Previous => self.previous,
            On::Current => self.current,
            On::Selected => self.selected,
        }
    }
}

/// The plan pass `i`'s evaluator loaded for `size` examples.
pub(crate) fn plan(rec: &Recorded, i: usize, size: usize) -> &Plan {
    rec.evaluators[i]
        .loaded(size)
        .expect("the step loaded this evaluator")
}

/// Programs with two forms of a step (`choice.rs`).
impl Trainer {
    /// Tell the trainer its run's length in steps: AE-SAM's c_t moves from c0 to c1 over it.
    pub fn set_run_steps(&mut self, steps: usize) {
        if let Some(c) = &mut self.choice {
            c.run_steps = Some(steps);
        }
    }

    /// Steps taken in the program's full form (every step for programs with one form):
    /// LookSAM's and AE-SAM's SAM steps.
    pub fn full_steps(&self) -> usize {
        self.choice
            .as_ref()
            .map_or(self.steps, |c| c.full_steps(self.steps))
    }

    /// Gradient evaluations in the steps taken, and in sequence, with the diagnosis's.
    pub fn grad_evals(&self) -> (usize, usize) {
        let p = &self.rec.program;
        let full = self.full_steps();
        let other = self.steps - full;
        let diagnosis = self.diagnosis_passes(self.steps);
        // The other form's passes run one after another.
        let other_grads = other * p.other_form_grads();
        (
            full * p.grads() + other_grads + diagnosis,
            full * p.depth() + other_grads + diagnosis,
        )
    }
}
