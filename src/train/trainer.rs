//! Optimizer state on one device, and one step of it.
//!
//! A step is one submission: for each stage of the optimizer (see
//! [`OptimizerConfig::stages`]) the kernels that prepare its points (perturbation, look-ahead)
//! and its gradient passes, then the base SGD step with the stage results, and a copy of the
//! two metric scalars into a persistent staging buffer; then one small readback.
//!
//! Buffers, all as long as the flat parameter vector: x (the parameters), the momentum, two
//! gradient buffers gA and gB and two evaluation points x~ and y. Each evaluator is bound to
//! one point and one gradient buffer:
//! - SGD: E0 at x → gA; step with gA.
//! - SAM and SAM-db: E0 at x → gA; x~ = x + e(gA); E1 at x~ → gB; step with gB.
//! - SAMPa: x~ = x + e(gB), y = look-ahead(x, gB); E0 at x~ → gA, E1 at y → gB; step with
//!   (1 − λ)·gA + λ·gB. gB is g_y: it is only overwritten by the next look-ahead gradient, after
//!   this step's perturbation and look-ahead have read it, so it needs no copy. The step's
//!   update also writes the next step's y, with this step's hyper-parameters: the next step
//!   skips its look-ahead pass when its own are the same (every step of an epoch but the
//!   first), and runs it when they differ, after a restore, and on the first step.
//! - RandSAM: x~ = x + e(u) with u drawn on the host; E0 at x~ → gA; step with gA.
//! - OptSAM: x~ = x + e(gA), gA still holding the previous step's gradient; E0 at x~ → gA.

use super::fused::FusedPair;
use super::optimizer::{LookaheadMode, OptimizerConfig, OptimizerKind, Which};
use super::schedule::Placement;
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf, Readback};
use crate::kernels::perturb::{self, Perturbation};
use crate::kernels::sgd::{Lookahead, SgdHyper, SgdStep};
use crate::kernels::{Dispatch, View};
use crate::nn::Model;
use crate::nn::evaluator::{Evaluator, Plan};
use crate::rng::Pcg;

/// The generator stream of RandSAM's directions.
pub const NOISE_STREAM: u64 = 0x5a3;

/// Everything a checkpoint needs to continue a trainer exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerState {
    /// Parameters.
    pub x: Vec<f32>,
    /// Momentum buffer.
    pub momentum: Vec<f32>,
    /// The gradient carried to the next step (SAMPa's g_y, OptSAM's previous gradient).
    pub carried: Option<Vec<f32>>,
    /// Steps taken.
    pub steps: usize,
    /// The previous step's batch, for optimizers that use it.
    pub previous: Option<Batch>,
    /// RandSAM's generator.
    pub noise_rng: (u64, u64),
}

#[derive(Debug)]
struct SampaParts {
    y: GpuBuf<f32>,
    g_n: GpuBuf<f32>,
    perturb: Dispatch,
    /// Staging for y_next, made when the dual schedule is chosen.
    y_back: Option<Readback>,
}

/// Optimizer state of one model on one device, with every step's dispatches prepared.
#[derive(Debug)]
pub struct Trainer {
    config: OptimizerConfig,
    evaluators: Vec<Evaluator>,
    x: GpuBuf<f32>,
    momentum: GpuBuf<f32>,
    carried: Option<GpuBuf<f32>>,
    noise: Option<GpuBuf<f32>>,
    /// Kernels run before each stage's gradients.
    prepare: Vec<Dispatch>,
    /// SAMPa's look-ahead point y and its perturbation kernels alone (the dual schedule
    /// submits the perturbation with g_p, apart from y's way out).
    sampa: Option<SampaParts>,
    /// The look-ahead hyper-parameters with which the last update wrote y, if y holds them.
    speculated: Option<SgdHyper>,
    /// The dual schedule's last update, which also copied y to its staging buffer.
    y_staged: Option<wgpu::SubmissionIndex>,
    placement: Placement,
    /// The fused schedule's two-replica evaluator, made when that schedule is chosen.
    pair: Option<FusedPair>,
    /// Steps whose two gradients ran fused.
    fused_steps: usize,
    sgd: SgdStep,
    lookahead: Option<Lookahead>,
    readback: Readback,
    /// The evaluator whose `[loss, correct]` a step reports: the first pass over the new batch.
    reported: usize,
    /// Whether the first evaluator's point holds a copy of x (made for evaluation at x when
    /// that evaluator is bound elsewhere; any step invalidates it).
    x_in_point: bool,
    steps: usize,
    previous: Option<Batch>,
    noise_rng: Pcg,
    noise_host: Vec<f32>,
}

impl Trainer {
    /// Upload `x0` (laid out as `model.params`) and prepare the optimizer's step. `seed`
    /// seeds RandSAM's directions.
    pub fn new(
        gpu: &Gpu,
        model: &Model,
        smoothing: f32,
        x0: &[f32],
        config: OptimizerConfig,
        seed: u64,
    ) -> Result<Trainer> {
        config.validate()?;
        let n = x0.len();
        // Allocated in whole texture rows, so the SGD update can read them through textures.
        let x = gpu.zeros_rows(n, "parameters")?;
        gpu.write(&x, 0, x0)?;
        let zeros = |what| gpu.zeros_rows(n, what);
        let (momentum, ga, gb) = (
            zeros("momentum")?,
            zeros("gradient A")?,
            zeros("gradient B")?,
        );
        let norms = gpu.zeros::<f32>(1, "perturbation norm")?;
        let how = Perturbation {
            rho: config.rho,
            normalized: !config.unnormalized,
            adaptive: config.adaptive,
        };
        // x~ = x + e(d), e as the options say, through the norm slot.
        let perturbed = |d: View<'_>, xt: &GpuBuf<f32>| {
            perturb::prepare_with_norm(gpu, how, x.view(), d, norms.view(), xt.view())
        };
        let eval = |point: &GpuBuf<f32>, grad: &GpuBuf<f32>| {
            Evaluator::new(model.clone(), smoothing, point, grad)
        };
        let (mut carried, mut noise, mut lookahead) = (None, None, None);
        let mut sampa = None;
        let (evaluators, prepare, sgd, reported);
        match config.kind {
            OptimizerKind::Sgd => {
                evaluators = vec![eval(&x, &ga)?];
                prepare = vec![Dispatch::empty()];
                sgd = SgdStep::prepare(gpu, [ga.view(), ga.view()], x.view(), momentum.view())?;
                reported = 0;
            }
            OptimizerKind::Sam | OptimizerKind::SamDb => {
                let xt = zeros("x~")?;
                evaluators = vec![eval(&x, &ga)?, eval(&xt, &gb)?];
                prepare = vec![Dispatch::empty(), perturbed(ga.view(), &xt)?];
                sgd = SgdStep::prepare(gpu, [gb.view(), gb.view()], x.view(), momentum.view())?;
                reported = if config.kind == OptimizerKind::Sam {
                    0
                } else {
                    1
                };
            }
            OptimizerKind::Sampa => {
                let (xt, y) = (zeros("x~")?, zeros("y")?);
                let ahead =
                    Lookahead::prepare(gpu, gb.view(), x.view(), momentum.view(), y.view())?;
                let perturb = perturbed(gb.view(), &xt)?;
                // The look-ahead, when a step needs it, is recorded before this.
                prepare = vec![perturb.clone()];
                lookahead = Some(ahead);
                sampa = Some(SampaParts {
                    y: y.clone(),
                    g_n: gb.clone(),
                    perturb,
                    y_back: None,
                });
                evaluators = vec![eval(&xt, &ga)?, eval(&y, &gb)?];
                sgd = SgdStep::prepare_with_lookahead(
                    gpu,
                    [ga.view(), gb.view()],
                    x.view(),
                    momentum.view(),
                    y.view(),
                )?;
                carried = Some(gb.clone());
                reported = 1;
            }
            OptimizerKind::RandSam | OptimizerKind::OptSam => {
                let xt = zeros("x~")?;
                let d = if config.kind == OptimizerKind::RandSam {
                    let u = zeros("random direction")?;
                    noise = Some(u.clone());
                    u
                } else {
                    carried = Some(ga.clone());
                    ga.clone()
                };
                prepare = vec![perturbed(d.view(), &xt)?];
                evaluators = vec![eval(&xt, &ga)?];
                sgd = SgdStep::prepare(gpu, [ga.view(), ga.view()], x.view(), momentum.view())?;
                reported = 0;
            }
        }
        Ok(Trainer {
            config,
            evaluators,
            x,
            momentum,
            carried,
            noise,
            prepare,
            sampa,
            speculated: None,
            y_staged: None,
            placement: Placement::Serial,
            pair: None,
            fused_steps: 0,
            sgd,
            lookahead,
            readback: Readback::new(gpu, 2),
            reported,
            x_in_point: false,
            steps: 0,
            previous: None,
            noise_rng: Pcg::new(seed, NOISE_STREAM),
            noise_host: Vec::new(),
        })
    }

    /// One optimizer step on `batch`; returns `[mean loss, correct count]` of the step's first
    /// pass over `batch` (at x for SGD and SAM, at the perturbed point for RandSAM, OptSAM and
    /// SAM-db, at the look-ahead point for SAMPa). The first step initialises the momentum
    /// buffer (PyTorch semantics) and, for SAMPa, is a plain SGD step.
    pub fn step(&mut self, gpu: &Gpu, batch: &Batch, hyper: SgdHyper) -> Result<[f32; 2]> {
        let first = self.steps == 0;
        let stages = self.config.stages();
        // At most two evaluators; in the dual schedule the second one's batch goes to the
        // worker instead (it is loaded here only if the worker fails).
        let dual = matches!(self.placement, Placement::Dual(_));
        let mut chosen = [batch; 2];
        let mut k = 0;
        for stage in stages {
            for which in *stage {
                if let (Which::Previous, Some(prev)) = (which, &self.previous) {
                    chosen[k] = prev;
                }
                k += 1;
            }
        }
        let sizes = chosen.map(|b| b.len());
        // Replicas share a batch size: a step whose two batches differ (at an epoch's end)
        // runs serially.
        let fuse = match &mut self.pair {
            Some(pair) if sizes[0] == sizes[1] => {
                pair.load(gpu, chosen)?;
                self.fused_steps += 1;
                true
            }
            _ => false,
        };
        if !fuse {
            for (i, b) in chosen.iter().enumerate().take(k) {
                if !(dual && i == 1) {
                    self.evaluators[i].load(gpu, b)?;
                }
            }
        }
        if let Some(u) = &self.noise {
            self.noise_host.clear();
            let rng = &mut self.noise_rng;
            self.noise_host.extend((0..u.len).map(|_| rng.normal()));
            gpu.write(u, 0, &self.noise_host)?;
        }
        let lambda = match self.config.kind {
            OptimizerKind::Sampa => self.config.lambda,
            _ => 0.0,
        };
        self.sgd.set(gpu, hyper, first, lambda);
        let look = self.set_lookahead(gpu, hyper, first);
        // Only the step right after a dual step finds y staged.
        let staged = self.y_staged.take();
        if dual {
            return self.step_dual(gpu, batch, &sizes, look, staged);
        }

        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        if let (Some(ahead), true) = (&self.lookahead, look) {
            ahead.dispatch.record(&mut encoder);
        }
        let mut k = 0;
        for (stage, prepare) in stages.iter().zip(&self.prepare) {
            prepare.record(&mut encoder);
            if let (2, Some(pair), true) = (stage.len(), &self.pair, fuse) {
                let evals = [&self.evaluators[k], &self.evaluators[k + 1]];
                pair.record(sizes[k], evals, &mut encoder);
                k += 2;
                continue;
            }
            if stage.len() == 2 && matches!(self.placement, Placement::Interleaved) {
                let (a, b) = (self.plan(k, sizes[k]), self.plan(k + 1, sizes[k + 1]));
                Evaluator::record_gradients_interleaved(a, b, &mut encoder);
                k += 2;
                continue;
            }
            for _ in stage.iter() {
                Evaluator::record_gradient(self.plan(k, sizes[k]), &mut encoder);
                k += 1;
            }
        }
        self.sgd.dispatch.record(&mut encoder);
        let (metrics, at) = match (&self.pair, fuse) {
            (Some(pair), true) => (
                &pair.plan(sizes[0]).metrics,
                FusedPair::metrics_at(self.reported),
            ),
            _ => (&self.plan(self.reported, sizes[self.reported]).metrics, 0),
        };
        self.readback.record_from(&mut encoder, metrics, at);
        gpu.checked("training step", || gpu.queue.submit([encoder.finish()]))?;
        self.finish_step(batch);
        self.read(gpu)
    }

    /// Set up SAMPa's look-ahead for a step with `hyper`; returns whether the step must run
    /// the look-ahead pass (false when the last update already wrote y with the same
    /// hyper-parameters). The update then writes the next step's y with this step's.
    fn set_lookahead(&mut self, gpu: &Gpu, hyper: SgdHyper, first: bool) -> bool {
        let Some(ahead) = &self.lookahead else {
            return false;
        };
        let wanted = self.lookahead_hyper(hyper, first);
        let fresh = !first && self.speculated == Some(wanted);
        if !fresh {
            ahead.set(gpu, wanted, first);
        }
        let next = self.lookahead_hyper(hyper, false);
        self.sgd.set_lookahead(gpu, next);
        self.speculated = Some(next);
        !fresh
    }

    fn finish_step(&mut self, batch: &Batch) {
        self.steps += 1;
        self.x_in_point = false;
        if self.config.uses_previous_batch() {
            match &mut self.previous {
                Some(prev) => prev.clone_from(batch),
                None => self.previous = Some(batch.clone()),
            }
        }
    }

    /// A SAMPa step with g_n on the worker. y_next is usually in its staging buffer already,
    /// written and copied by the last update (`staged`); otherwise (`look`, or the first dual
    /// step) the look-ahead and the copy are submitted first. g_p is submitted before the
    /// host waits for y, so the main device never idles while y travels; g_n comes back into
    /// g_y's buffer before the update. If the worker fails, this step's g_n is computed here
    /// and the run goes on `interleaved`.
    fn step_dual(
        &mut self,
        gpu: &Gpu,
        batch: &Batch,
        sizes: &[usize],
        look: bool,
        staged: Option<wgpu::SubmissionIndex>,
    ) -> Result<[f32; 2]> {
        let parts = self.sampa.as_ref().expect("dual is for SAMPa");
        let y_back = parts.y_back.as_ref().expect("made with the placement");
        let y_at = match (look, staged) {
            (false, Some(index)) => index,
            _ => {
                let mut encoder = gpu.device.create_command_encoder(&Default::default());
                if look {
                    let ahead = self.lookahead.as_ref().expect("SAMPa has a look-ahead");
                    ahead.dispatch.record(&mut encoder);
                }
                y_back.record(&mut encoder, &parts.y);
                gpu.checked("SAMPa look-ahead", || gpu.queue.submit([encoder.finish()]))?
            }
        };
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        parts.perturb.record(&mut encoder);
        Evaluator::record_gradient(self.plan(0, sizes[0]), &mut encoder);
        gpu.checked("SAMPa g_p", || gpu.queue.submit([encoder.finish()]))?;
        let y = y_back.read_after(gpu, y_at)?;
        let Placement::Dual(worker) = &self.placement else {
            unreachable!("checked by the caller")
        };
        let answer = worker
            .send(self.steps + 1, y, batch.clone())
            .and_then(|_| worker.receive());
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        let metrics = match answer {
            Ok(reply) => {
                // Ordered after the submissions above, which read the old g_y.
                gpu.write(&parts.g_n, 0, &reply.grad)?;
                Some(reply.metrics)
            }
            Err(e) => {
                eprintln!(
                    "warning: the dual schedule's worker failed at step {} ({e}); continuing on \
                     {} alone with the interleaved schedule",
                    self.steps + 1,
                    gpu.adapter.short()
                );
                self.placement = Placement::Interleaved;
                self.evaluators[1].load(gpu, batch)?;
                Evaluator::record_gradient(self.plan(1, sizes[1]), &mut encoder);
                None
            }
        };
        self.sgd.dispatch.record(&mut encoder);
        match metrics {
            Some(_) => y_back.record(&mut encoder, &parts.y),
            None => self
                .readback
                .record(&mut encoder, &self.plan(1, sizes[1]).metrics),
        }
        let index = gpu.checked("SAMPa update", || gpu.queue.submit([encoder.finish()]))?;
        self.y_staged = metrics.is_some().then_some(index);
        self.finish_step(batch);
        match metrics {
            Some(m) => Ok(m),
            None => self.read(gpu),
        }
    }

    /// Place SAMPa's two gradients as `placement` says (any placement is accepted for other
    /// optimizers, which have one gradient per stage and ignore it).
    pub fn set_placement(&mut self, gpu: &Gpu, placement: Placement) -> Result<()> {
        if let (Placement::Dual(_), Some(parts)) = (&placement, &mut self.sampa)
            && parts.y_back.is_none()
        {
            parts.y_back = Some(Readback::new(gpu, parts.y.len));
        }
        let two = self.config.stages().iter().any(|s| s.len() == 2);
        self.pair = match (&placement, self.pair.take()) {
            (Placement::Fused, Some(p)) => Some(p),
            (Placement::Fused, None) if two => Some(FusedPair::new(gpu, &self.evaluators[0])?),
            _ => None,
        };
        self.placement = placement;
        Ok(())
    }

    /// The schedule in use.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Steps whose two gradients ran fused (a fused run's steps with two batches of one size).
    pub fn fused_steps(&self) -> usize {
        self.fused_steps
    }

    /// The look-ahead's hyper-parameters: the base step's (code) or a bare gradient step
    /// (paper). On the first step there is no g_y, and y = x exactly.
    fn lookahead_hyper(&self, hyper: SgdHyper, first: bool) -> SgdHyper {
        let mut h = match self.config.lookahead {
            LookaheadMode::Code => hyper,
            LookaheadMode::Paper => SgdHyper {
                lr: hyper.lr,
                momentum: 0.0,
                weight_decay: 0.0,
                nesterov: false,
            },
        };
        if first {
            h.lr = 0.0;
        }
        h
    }

    fn plan(&self, evaluator: usize, batch: usize) -> &Plan {
        self.evaluators[evaluator]
            .loaded(batch)
            .expect("the step loaded this evaluator")
    }

    /// `[mean loss, correct count]` of `batch` at x, without a gradient.
    pub fn loss(&mut self, gpu: &Gpu, batch: &Batch) -> Result<[f32; 2]> {
        let e = &mut self.evaluators[0];
        let copy_x = e.params().buffer != self.x.buffer && !self.x_in_point;
        let point = e.params().clone();
        let plan = e.load(gpu, batch)?;
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        if copy_x {
            // The first evaluator's point is rebuilt at the start of every step, so x can be
            // evaluated there; one copy serves every batch until the next step.
            encoder.copy_buffer_to_buffer(&self.x.buffer, 0, &point.buffer, 0, self.x.bytes());
            self.x_in_point = true;
        }
        Evaluator::record_loss(plan, &mut encoder);
        self.readback.record(&mut encoder, &plan.metrics);
        gpu.checked("evaluation", || gpu.queue.submit([encoder.finish()]))?;
        self.read(gpu)
    }

    fn read(&self, gpu: &Gpu) -> Result<[f32; 2]> {
        let m = self.readback.read(gpu)?;
        Ok([m[0], m[1]])
    }

    /// The parameter buffer.
    pub fn params(&self) -> &GpuBuf<f32> {
        &self.x
    }

    /// The first gradient evaluator (bound to x for SGD, SAM and SAM-db).
    pub fn evaluator(&mut self) -> &mut Evaluator {
        &mut self.evaluators[0]
    }

    /// The base SGD update's dispatch (for profiling; a step records it itself).
    pub fn update_dispatch(&self) -> &Dispatch {
        &self.sgd.dispatch
    }

    /// The optimizer.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Steps taken.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// A copy of the whole state, for a checkpoint.
    pub fn state(&self, gpu: &Gpu) -> Result<TrainerState> {
        Ok(TrainerState {
            x: gpu.read(&self.x)?,
            momentum: gpu.read(&self.momentum)?,
            carried: self.carried.as_ref().map(|c| gpu.read(c)).transpose()?,
            steps: self.steps,
            previous: self.previous.clone(),
            noise_rng: self.noise_rng.state(),
        })
    }

    /// Continue from `state` (taken from a trainer of the same model and optimizer).
    pub fn restore(&mut self, gpu: &Gpu, state: &TrainerState) -> Result<()> {
        gpu.write(&self.x, 0, &state.x)?;
        gpu.write(&self.momentum, 0, &state.momentum)?;
        if let (Some(buf), Some(c)) = (&self.carried, &state.carried) {
            gpu.write(buf, 0, c)?;
        }
        self.steps = state.steps;
        self.x_in_point = false;
        self.speculated = None;
        self.y_staged = None;
        self.previous = state.previous.clone();
        self.noise_rng = Pcg::from_state(state.noise_rng.0, state.noise_rng.1);
        Ok(())
    }
}
