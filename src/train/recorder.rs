//! One recorder for every program: it allocates the program's named vectors on a device,
//! prepares a kernel for each operation and an evaluator for each gradient pass, and applies
//! the rewrites that make a program faster without changing a bit of what it computes:
//!
//! - **The update writes the next look-ahead point.** When a program starts its step with a
//!   look-ahead from a gradient that its update mixes in last (SAMPa's g_y), and nothing
//!   between the two changes that gradient, x or the momentum, the update also writes the next
//!   step's look-ahead point (`SgdStep::prepare_with_lookahead`, for bases that
//!   [`crate::optim::BaseKind::fuses_lookahead`]), with this step's
//!   hyper-parameters. The next step then skips its look-ahead when its own hyper-parameters
//!   are the same (every step of an epoch but the first) and runs it otherwise.
//! - **Kernel forms per adapter.** Every elementwise kernel is prepared in the form
//!   [`Kernels`] names for the device (texture reads on CPU rasterisers); vectors are
//!   allocated in whole 256-float rows so that either form can read them.

use super::probes;
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};
use crate::kernels::clip::Clip;
use crate::kernels::{Dispatch, Kernels};
use crate::kernels::{combine, norm, perturb, vector};
use crate::nn::Model;
use crate::nn::evaluator::Evaluator;
use crate::optim::base::{BaseLook, BaseStep, Params};
use crate::optim::program::{Mix, On, Op, Pass, Program, Vector};
use crate::optim::{LookaheadMode, OptimizerConfig};
use std::collections::BTreeMap;

/// What a trainer is built from.
#[derive(Clone, Debug)]
pub struct TrainerSpec {
    /// The model.
    pub model: Model,
    /// Label smoothing of the cross-entropy.
    pub smoothing: f32,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// Seeds the optimizer's own generator (RandSAM's directions).
    pub seed: u64,
    /// The kernel forms of the device.
    pub kernels: Kernels,
}

/// One prepared operation.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// A perturbation, with the buffer of its norms (see `probes`), and whether its ‖ε‖ is
    /// measured rather than worked out from the norm it divided by.
    Perturb(Dispatch, GpuBuf<f32>, bool),
    /// A random choice of parameter tensors: the mask the host draws each step (`keep`
    /// the probability of a tensor's being kept), then the direction copied and multiplied
    /// by it.
    DropTensors {
        mask: GpuBuf<f32>,
        dispatches: [Dispatch; 2],
        keep: f32,
    },
    /// A selection of examples (see `select.rs`).
    Select(SelectOp),
    /// A group's part of a mean over groups: the first group's copy, the others' sum; the
    /// division by the number of groups is `groups.rs`'s.
    Accumulate {
        first: Dispatch,
        rest: Dispatch,
        into: GpuBuf<f32>,
    },
    LookAhead(BaseLook, LookaheadMode),
    Noise(GpuBuf<f32>),
    /// A combination of vectors with its reductions (GSAM's update gradient, LookSAM's g_v
    /// and its reuse).
    Combine(Dispatch),
    /// A mask's two dispatches: the direction copied, then multiplied by the mask.
    MaskNorm([Dispatch; 2]),
    /// An average's two dispatches: the old value scaled by 1 − θ, then θ times the new added.
    Average([Dispatch; 2]),
    /// A gradient pass: the index of its evaluator.
    Grad(usize),
    /// The base step, with λ for its mix, and the clip of its gradient (`--clip-norm`),
    /// which then takes the mix and hands the step its result.
    Step(BaseStep, f32, Option<Clip>),
}

impl Prepared {
    /// Record an operation that is not a gradient pass (the schedule places those); the
    /// look-ahead only when `look` (see `Trainer::set_hyper`).
    pub fn record_outside_passes(&self, encoder: &mut wgpu::CommandEncoder, look: bool) {
        match self {
            Prepared::Perturb(d, ..) | Prepared::Combine(d) => d.record(encoder),
            Prepared::DropTensors { dispatches, .. } => {
                dispatches.iter().for_each(|d| d.record(encoder))
            }
            Prepared::Average(ds) | Prepared::MaskNorm(ds) => {
                ds.iter().for_each(|d| d.record(encoder))
            }
            Prepared::LookAhead(l, _) if look => l.dispatch().record(encoder),
            Prepared::Step(s, _, clip) => {
                if let Some(c) = clip {
                    c.dispatch.record(encoder);
                }
                s.dispatch().record(encoder)
            }
            Prepared::LookAhead(..)
            | Prepared::Noise(_)
            | Prepared::Grad(_)
            | Prepared::Accumulate { .. }
            | Prepared::Select(_) => {}
        }
    }
}

/// A prepared [`Op::Select`]: the pass whose per-example losses are the baseline, the pass on
/// the chosen examples (whose evaluator also takes the loss-only pass on the whole batch), and
/// the fraction chosen.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SelectOp {
    pub from: usize,
    pub pass: usize,
    pub keep: f32,
}

/// A program prepared on one device, with what the steps read of the program worked out once.
#[derive(Debug)]
pub(crate) struct Recorded {
    pub program: Program,
    /// The program's passes, in order (pass i's evaluator is `evaluators[i]`).
    pub passes: Vec<Pass>,
    /// The pass whose loss and correct count a step reports.
    pub reported: usize,
    /// Whether a pass takes the previous step's batch.
    pub uses_previous: bool,
    pub vectors: BTreeMap<Vector, GpuBuf<f32>>,
    pub ops: Vec<Prepared>,
    /// The other form's operations after the shared ones, for programs with two forms.
    pub other: Vec<Prepared>,
    pub evaluators: Vec<Evaluator>,
    /// The look-ahead op whose next point the update writes, when that rewrite applies.
    pub speculative: Option<usize>,
}

impl Recorded {
    /// The vector `v`'s buffer.
    pub fn vector(&self, v: Vector) -> &GpuBuf<f32> {
        &self.vectors[&v]
    }

    /// The other form's update, for programs with two forms.
    pub fn other_update(&self) -> Option<&BaseStep> {
        self.other.iter().rev().find_map(|op| match op {
            Prepared::Step(s, ..) => Some(s),
            _ => None,
        })
    }

    /// The program's last update: the last operation of a step that writes x.
    pub fn last_update(&self) -> Result<&BaseStep> {
        let step = self.ops.iter().rev().find_map(|op| match op {
            Prepared::Step(s, ..) => Some(s),
            _ => None,
        });
        step.ok_or_else(|| {
            crate::error::Error::Invalid(format!(
                "the program {:?} never updates the parameters",
                self.program
            ))
        })
    }
}

/// The index of the look-ahead op whose work the update can do for the next step: a
/// look-ahead from the gradient the update mixes in second, with nothing before it in the
/// step writing that gradient, x or the momentum (so at the next step's start they hold what
/// the update left), and its point read by nothing before it.
pub(crate) fn speculative_lookahead(program: &Program) -> Option<usize> {
    let last = program.ops.last()?;
    let Op::Step(Mix::Lambda(_, b, _)) = last else {
        return None;
    };
    let at = program
        .ops
        .iter()
        .position(|op| matches!(op, Op::LookAhead { grad, .. } if grad == b))?;
    let Op::LookAhead { into, .. } = program.ops[at] else {
        unreachable!("found above")
    };
    let before = &program.ops[..at];
    let kept = [[*b, Vector::X].as_slice(), &program.state].concat();
    let written = before
        .iter()
        .any(|op| kept.iter().any(|&v| program.writes(op, v)));
    let point_read = before.iter().any(|op| reads(op, into));
    (!written && !point_read).then_some(at)
}

fn reads(op: &Op, v: Vector) -> bool {
    match *op {
        Op::Perturb { along, .. } => along == v,
        Op::LookAhead { grad, .. } => grad == v,
        Op::Noise { .. } => false,
        Op::Average { from, into, .. } => from == v || into == v,
        Op::Decompose { g, gp, .. } => g == v || gp == v,
        Op::Project { g, gs, .. } => g == v || gs == v,
        Op::DropTensors { from, .. } => from == v,
        Op::PerturbBy { along, norm_of, .. } => along == v || norm_of == v,
        Op::Select { at, .. } => at == v,
        Op::Accumulate { from, into } => from == v || into == v,
        Op::Reuse { g, v: kept, .. } => g == v || kept == v,
        Op::MaskNorm { from, .. } => from == v,
        Op::Grad(p) => p.at == v,
        Op::Step(Mix::One(g)) => g == v,
        Op::Step(Mix::Lambda(a, b, _)) => a == v || b == v,
    }
}

/// Prepare `program` on `gpu` for `spec`, starting from parameters `x0`; `rewrite` applies
/// the rewrites above.
pub(crate) fn record(
    gpu: &Gpu,
    spec: &TrainerSpec,
    program: Program,
    x0: &[f32],
    rewrite: bool,
) -> Result<Recorded> {
    let n = x0.len();
    let mut vectors = BTreeMap::new();
    let clipped = spec.optimizer.clip_norm.map(|_| Vector::Clipped);
    for v in program.vectors().into_iter().chain(clipped) {
        vectors.insert(v, gpu.zeros_rows(n, &format!("{v:?}"))?);
    }
    gpu.write(&vectors[&Vector::X], 0, x0)?;
    let speculative = if rewrite && spec.optimizer.base.fuses_lookahead() {
        speculative_lookahead(&program)
    } else {
        None
    };
    let passes = program.passes();
    let reported = program.pass_index(program.reports).ok_or_else(|| {
        crate::Error::Invalid(format!(
            "the program reports a pass it lacks: {}",
            program.reports
        ))
    })?;
    let decay = match spec.optimizer.no_wd_1d {
        true => Some(spec.model.decay_mask().upload(gpu)?),
        false => None,
    };
    let mut rec = Recorded {
        uses_previous: program.uses_previous_batch(),
        program,
        passes,
        reported,
        vectors,
        ops: Vec::new(),
        other: Vec::new(),
        evaluators: Vec::new(),
        speculative,
    };
    for k in 0..rec.program.ops.len() {
        let op = rec.program.ops[k];
        let prepared = prepare(gpu, spec, &mut rec, (&op, decay.as_ref()))?;
        rec.ops.push(prepared);
    }
    let other = rec.program.alternative.as_ref().map(|a| a.ops.clone());
    for op in other.iter().flatten() {
        if matches!(op, Op::Grad(_)) {
            return Err(crate::Error::Invalid(format!(
                "the program's other form takes a gradient of its own ({op:?}); its passes \
                 must be among the shared operations"
            )));
        }
        let prepared = prepare(gpu, spec, &mut rec, (op, decay.as_ref()))?;
        rec.other.push(prepared);
    }
    Ok(rec)
}

/// Prepare `op`, the base steps with weight decay's mask `decay` (`--no-wd-1d`), if any.
fn prepare(
    gpu: &Gpu,
    spec: &TrainerSpec,
    rec: &mut Recorded,
    (op, decay): (&Op, Option<&GpuBuf<u32>>),
) -> Result<Prepared> {
    let form = spec.kernels.vectors;
    let base = (spec.optimizer.base, form);
    let v = |x: Vector| rec.vectors[&x].view();
    let x = v(Vector::X);
    let state: Vec<_> = rec.program.state.iter().map(|&s| v(s)).collect();
    let at = Params {
        x,
        state: &state,
        decay,
    };
    Ok(match *op {
        Op::Perturb { along, into } => {
            let how = spec.optimizer.perturbation();
            let (values, reductions) =
                probes::perturbation_values(gpu, (how, form), (x, v(along), v(into)))?;
            let d = perturb::prepare_with_norm(
                gpu,
                form,
                how,
                x,
                v(along),
                values.slice(0, 1)?,
                v(into),
            )?;
            // ASAM's norms read x̃, after the perturbation wrote it.
            let d = reductions.into_iter().fold(d, Dispatch::then);
            Prepared::Perturb(d, values, how.adaptive)
        }
        Op::PerturbBy {
            along,
            norm_of,
            into,
        } => {
            let how = spec.optimizer.perturbation();
            let values = gpu.zeros::<f32>(probes::PERTURBATION_VALUES, "perturbation norms")?;
            let norm = norm::prepare(gpu, form, v(norm_of), values.slice(0, 1)?)?;
            let step = perturb::prepare(gpu, form, how, x, v(along), values.slice(0, 1)?, v(into))?;
            let moved = norm::prepare_distance(gpu, x, v(into), values.slice(2, 1)?)?;
            Prepared::Perturb(norm.then(step).then(moved), values, true)
        }
        Op::Accumulate { from, into } => Prepared::Accumulate {
            first: vector::prepare_copy(gpu, v(from), v(into))?,
            rest: vector::prepare_axpy(gpu, 1.0, v(from), v(into))?,
            into: rec.vectors[&into].clone(),
        },
        Op::DropTensors { from, into, keep } => {
            let mask = gpu.zeros::<f32>(spec.model.param_count(), "tensor mask")?;
            Prepared::DropTensors {
                dispatches: [
                    vector::prepare_copy(gpu, v(from), v(into))?,
                    vector::prepare_mul(gpu, mask.view(), v(into))?,
                ],
                mask,
                keep,
            }
        }
        Op::Select { from, at, keep } => {
            let index = |name: &str| rec.program.pass_index(name);
            let chosen = rec
                .passes
                .iter()
                .position(|p| p.at == at && p.on == On::Selected);
            match (index(from), chosen) {
                (Some(from), Some(pass)) => Prepared::Select(SelectOp { from, pass, keep }),
                _ => {
                    return Err(crate::Error::Invalid(format!(
                        "the program selects examples without a pass {from} to compare with \
                         or a pass at {at:?} on the chosen examples"
                    )));
                }
            }
        }
        Op::LookAhead { grad, into, mode } => {
            Prepared::LookAhead(BaseLook::prepare(gpu, base, v(grad), at, v(into))?, mode)
        }
        Op::Noise { into } => Prepared::Noise(rec.vectors[&into].clone()),
        Op::Average { from, into, theta } => Prepared::Average([
            vector::prepare_scale(gpu, 1.0 - theta, v(into))?,
            vector::prepare_axpy(gpu, theta, v(from), v(into))?,
        ]),
        Op::MaskNorm { from, into } => {
            let mask = spec.model.norm_mask();
            if !mask.contains(&1.0) {
                return Err(crate::Error::Invalid(format!(
                    "--perturb-only norm: {} has no normalisation layers to perturb; use a \
                     model with BatchNorm (resnet, wrn, vgg, densenet) or leave the flag out",
                    spec.model.name
                )));
            }
            // The mask lives on through the bind group that reads it.
            let mask = gpu.upload(&mask, "normalisation mask")?;
            Prepared::MaskNorm([
                vector::prepare_copy(gpu, v(from), v(into))?,
                vector::prepare_mul(gpu, mask.view(), v(into))?,
            ])
        }
        Op::Decompose { g, gp, into, alpha } => {
            // gp − α·(g − c·gp)
            Prepared::Combine(combine::prepare_orthogonal(
                gpu,
                (1.0, -alpha),
                v(g),
                v(gp),
                v(into),
            )?)
        }
        Op::Project { g, gs, into } => {
            // gs − c·g
            Prepared::Combine(combine::prepare_orthogonal(
                gpu,
                (0.0, 1.0),
                v(gs),
                v(g),
                v(into),
            )?)
        }
        Op::Reuse {
            g,
            v: kept,
            into,
            alpha,
        } => Prepared::Combine(combine::prepare_rescaled(
            gpu,
            alpha,
            v(g),
            v(kept),
            v(into),
        )?),
        Op::Grad(p) => {
            let (at, into) = (&rec.vectors[&p.at], &rec.vectors[&p.into]);
            let e = Evaluator::new(spec.model.clone(), spec.smoothing, spec.kernels, at, into)?;
            rec.evaluators.push(e);
            Prepared::Grad(rec.evaluators.len() - 1)
        }
        Op::Step(mix) => {
            let (a, b, lambda) = match mix {
                Mix::One(g) => (g, g, 0.0),
                Mix::Lambda(a, b, l) => (a, b, l),
            };
            // With a clip the step takes the clipped mix alone, and g_b stays its second
            // gradient for the look-ahead it may write.
            let clip = match (rec.vectors.get(&Vector::Clipped), spec.optimizer.clip_norm) {
                (Some(c), Some(max_norm)) => Some(Clip::prepare(
                    gpu,
                    [v(a), v(b)],
                    c.view(),
                    (lambda, max_norm),
                )?),
                _ => None,
            };
            let grads = match clip {
                Some(_) => [v(Vector::Clipped), v(b)],
                None => [v(a), v(b)],
            };
            let y = match rec.speculative.map(|i| &rec.program.ops[i]) {
                Some(Op::LookAhead { into, .. }) => Some(v(*into)),
                _ => None,
            };
            Prepared::Step(BaseStep::prepare(gpu, base, grads, at, y)?, lambda, clip)
        }
    })
}
