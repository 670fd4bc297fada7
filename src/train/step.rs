//! The one step driver of every schedule, pipelined: [`Trainer::submit_async`] records and
//! submits step t+1 before it waits for step t's readback, so the device always has the next
//! step queued while the host reads the last one's values and prepares the next batch.
//!
//! A step is driven in three parts. The driver sets the step's hyper-parameters, random
//! directions and dropout keys; the schedule records the step's work (`local_step.rs` for
//! `serial`, `interleaved` and `fused`; `dual_step.rs` for `dual`; `shard_step.rs` for the
//! data-parallel shards), submitting what it must submit early and leaving the last
//! submission's commands in a [`Recording`]; the driver then owns the tail: the copy of the
//! ‖x‖² partial sums, the submission, the step's bookkeeping, and, one step later, the
//! readback, the BatchNorm running statistics and the report.
//!
//! The readback alternates between two staging buffers, since step t's is still waiting to be
//! mapped when step t+1 records its copies. Everything read one step late is folded in the
//! order the steps ran, so a pipelined run computes the same bits as one that waits after
//! every step.

use crate::data::Batch;
use crate::error::Result;
use crate::gpu::{Gpu, Readback};
use crate::optim::BaseHyper;

use super::flight::{InFlight, Recording, StepReport};
use super::probes::{Diagnosed, PerturbationNorms};
use super::recorder::Prepared;
use super::trainer::{Placed, Trainer};

impl Trainer {
    /// Submit one optimizer step on `batch` with the base step's hyper-parameters `hyper` (of
    /// the trainer's base), then read back the step before it: returns that step's report,
    /// `None` after the first step or after [`Trainer::finish_async`]. The first step
    /// initialises the base's state (PyTorch semantics).
    pub async fn submit_async(
        &mut self,
        gpu: &Gpu,
        batch: &Batch,
        hyper: impl Into<BaseHyper>,
    ) -> Result<Option<StepReport>> {
        let hyper = hyper.into();
        let base = self.spec.optimizer.base;
        if hyper.kind() != base {
            return Err(crate::optim::base::mismatch(base, hyper.kind()));
        }
        // The smallest pass of the step: an m-sharpness group, the last one possibly short.
        let smallest = match self.rec.program.grouped {
            Some(m) if m < batch.len() && !batch.len().is_multiple_of(m) => batch.len() % m,
            Some(m) => m.min(batch.len()),
            None => batch.len(),
        };
        self.spec.model.check_training_batch(smallest)?;
        self.draw_noise(gpu)?;
        self.set_dropout_keys()?;
        let look = self.set_hyper(gpu, hyper)?;
        let grouped = self.rec.program.grouped.is_some();
        let recording = if grouped && self.pair.is_some() {
            super::grouped_pair::record(self, gpu, batch, look).await?
        } else if matches!(self.placed, Placed::Dual(_)) {
            super::dual_step::record(self, gpu, batch, look).await?
        } else if grouped {
            super::groups::record(self, gpu, batch, look)?
        } else if self.shard.is_some() {
            super::shard_step::record(self, gpu, batch, look).await?
        } else {
            super::local_step::record(self, gpu, batch, look).await?
        };
        let before = self.in_flight.take();
        let submitted = self.submit_recording(gpu, batch, recording)?;
        self.in_flight = Some(submitted);
        match before {
            Some(f) => Ok(Some(self.read(f, true).await?)),
            None => Ok(self.settled.take()),
        }
    }

    /// Read back the step still in flight: its report, or `None` when every step's report
    /// was already returned.
    pub async fn finish_async(&mut self) -> Result<Option<StepReport>> {
        self.settle_async().await?;
        Ok(self.settled.take())
    }

    /// Read back the step in flight, if any, and keep its report for the next
    /// [`Trainer::submit_async`] or [`Trainer::finish_async`]: what everything that reads
    /// the trainer's host-side state (the running statistics, ‖x‖²) does first.
    pub(crate) async fn settle_async(&mut self) -> Result<()> {
        if let Some(f) = self.in_flight.take() {
            self.settled = Some(self.read(f, false).await?);
        }
        Ok(())
    }

    /// One step, waited for: [`Trainer::submit_async`] then [`Trainer::finish_async`];
    /// returns `[mean loss, correct count]` of the step's first pass over `batch` (the
    /// program's reported pass). A report of an earlier step still in flight is dropped.
    pub async fn step_async(
        &mut self,
        gpu: &Gpu,
        batch: &Batch,
        hyper: impl Into<BaseHyper>,
    ) -> Result<[f32; 2]> {
        self.submit_async(gpu, batch, hyper).await?;
        let report = self.finish_async().await?;
        Ok(report.expect("the step just submitted").metrics())
    }

    /// Blocking [`Trainer::submit_async`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn submit(
        &mut self,
        gpu: &Gpu,
        batch: &Batch,
        hyper: impl Into<BaseHyper>,
    ) -> Result<Option<StepReport>> {
        gpu.block_on(self.submit_async(gpu, batch, hyper))
    }

    /// Blocking [`Trainer::finish_async`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn finish(&mut self, gpu: &Gpu) -> Result<Option<StepReport>> {
        gpu.block_on(self.finish_async())
    }

    /// Blocking [`Trainer::step_async`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn step(
        &mut self,
        gpu: &Gpu,
        batch: &Batch,
        hyper: impl Into<BaseHyper>,
    ) -> Result<[f32; 2]> {
        gpu.block_on(self.step_async(gpu, batch, hyper))
    }

    /// The readback the step being recorded copies its values into.
    pub(crate) fn readback(&self) -> &Readback {
        &self.readbacks[self.slot]
    }

    /// The shared tail: the ‖x‖² watch's copy, the submission, and the bookkeeping after it.
    fn submit_recording(&mut self, gpu: &Gpu, batch: &Batch, mut r: Recording) -> Result<InFlight> {
        let watch = match (&self.other_watch, r.other_form) {
            (Some(w), true) => w,
            _ => &self.watch,
        };
        watch.record(&mut r.encoder, self.readback());
        if let Some((values, _)) = self.perturbation_values() {
            let at = super::probes::PERTURBATION_AT;
            let count = super::probes::PERTURBATION_VALUES;
            self.readback()
                .record_part(&mut r.encoder, values, 0, count, at);
        }
        let diagnosed = self
            .diagnosis
            .as_ref()
            .is_some_and(|d| d.due(self.steps + 1));
        if let (true, Some(d)) = (diagnosed, &self.diagnosis) {
            d.record_sums(&mut r.encoder, self.readback());
        }
        let index = gpu.checked("training step", || gpu.submit(r.encoder.finish()))?;
        if let Placed::Dual(d) = &mut self.placed {
            d.staged = r.stages_point.then(|| index.clone());
        }
        let slot = self.slot;
        self.slot ^= 1;
        self.steps += 1;
        self.x_in_point = false;
        if self.rec.uses_previous {
            match &mut self.previous {
                Some(prev) => prev.clone_from(batch),
                None => self.previous = Some(batch.clone()),
            }
        }
        Ok(InFlight {
            index,
            slot,
            step: self.steps,
            diagnosed,
            known: r.known,
            sizes: r.sizes,
            remote: r.remote,
            groups: r.groups,
        })
    }

    /// Read step `f`'s values back (`behind`: a later step is already queued behind it),
    /// fold its batch statistics into the running ones, and make its report (summed over the
    /// replicas of a data-parallel run).
    async fn read(&mut self, f: InFlight, behind: bool) -> Result<StepReport> {
        let readback = &self.readbacks[f.slot];
        let m = match behind {
            true => readback.read_behind(f.index).await?,
            false => readback.read_after(f.index).await?,
        };
        self.norm_sq = self.watch.norm_sq(&m);
        if let Some(ns) = &self.norm_stats {
            // A grouped step's statistics follow its groups' metrics, group by group.
            let stats = match f.groups.is_empty() {
                true => &m[super::watch::READBACK..self.watch.at()],
                false => &m[self.watch.at() + self.watch.len() + 2 * f.groups.len()..],
            };
            let target = (&self.spec.model, &mut self.model_state[..]);
            match &mut self.shard {
                // A data-parallel replica normalised its own shard (as PyTorch's DDP without
                // SyncBatchNorm); the running statistics take the replicas' average. With
                // --sync-bn every replica already holds the whole batch's.
                Some(shard) if !shard.sync_bn => {
                    let mut all = ns.gather(stats, &f.remote);
                    shard.average(&mut all)?;
                    ns.fold(target, &all, &f.sizes, &[]);
                }
                _ => ns.fold(target, stats, &f.sizes, &f.remote),
            }
        }
        let mut metrics = f.known.unwrap_or([m[0], m[1]]);
        if !f.groups.is_empty() && f.known.is_none() {
            let at = self.watch.at() + self.watch.len();
            metrics = super::groups::combine(&m[at..], &f.groups);
        }
        if let Some(shard) = &mut self.shard {
            metrics = shard.metrics(metrics)?;
        }
        let how = self.spec.optimizer.perturbation();
        let probe = |at: usize, count: usize| &m[at..at + count];
        let perturbation = self.perturbation_values().map(|(_, measured)| {
            let values = probe(
                super::probes::PERTURBATION_AT,
                super::probes::PERTURBATION_VALUES,
            );
            PerturbationNorms::from_values((how, measured), values)
        });
        let diagnosis = f.diagnosed.then(|| {
            Diagnosed::from_values(probe(
                super::probes::DIAGNOSIS_AT,
                super::probes::DIAGNOSIS_VALUES,
            ))
        });
        Ok(StepReport {
            step: f.step,
            loss: metrics[0],
            correct: metrics[1],
            norm_sq: self.norm_sq,
            perturbation,
            diagnosis,
        })
    }

    /// The buffer of the program's (first) perturbation's norms, if it perturbs x, and
    /// whether its ‖ε‖ is measured.
    fn perturbation_values(&self) -> Option<(&crate::gpu::GpuBuf<f32>, bool)> {
        self.rec.ops.iter().find_map(|op| match op {
            Prepared::Perturb(_, values, measured) => Some((values, *measured)),
            _ => None,
        })
    }

    /// Write this step's hyper-parameters into the look-ahead and step kernels; returns
    /// whether the step must run its look-ahead pass (false when the last update already wrote
    /// the point with the same hyper-parameters).
    pub(crate) fn set_hyper(&mut self, gpu: &Gpu, hyper: BaseHyper) -> Result<bool> {
        let (steps, first) = (self.steps, self.steps == 0);
        let mut look = false;
        for (k, op) in self.rec.ops.iter().enumerate() {
            match op {
                Prepared::LookAhead(l, mode) => {
                    // On the first step there is no gradient to look ahead with: y = x.
                    let wanted = hyper.look(*mode);
                    let fresh = !first
                        && self.rec.speculative == Some(k)
                        && self.speculated == Some(wanted);
                    if !fresh {
                        l.set(gpu, hyper, *mode, steps)?;
                    }
                    look |= !fresh;
                    if self.rec.speculative == Some(k) {
                        self.speculated = Some(wanted);
                    }
                }
                Prepared::Step(s, lambda, clip) => {
                    set_step(gpu, (hyper, steps), (s, *lambda, clip.is_some()))?;
                    if let Some(Prepared::LookAhead(_, mode)) =
                        self.rec.speculative.map(|i| &self.rec.ops[i])
                    {
                        s.set_lookahead(gpu, hyper, *mode);
                    }
                }
                _ => {}
            }
        }
        // The other form's update, for programs with two forms.
        for op in &self.rec.other {
            if let Prepared::Step(s, lambda, clip) = op {
                set_step(gpu, (hyper, steps), (s, *lambda, clip.is_some()))?;
            }
        }
        Ok(look)
    }

    /// Draw this step's random directions and tensor masks on the host (into a buffer reused from step to
    /// step) and upload them.
    fn draw_noise(&mut self, gpu: &Gpu) -> Result<()> {
        for op in &self.rec.ops {
            let (rng, host) = (&mut self.noise, &mut self.noise_host);
            match op {
                Prepared::Noise(u) => {
                    host.clear();
                    host.extend((0..u.len).map(|_| rng.normal()));
                    gpu.write(u, 0, host)?;
                }
                Prepared::DropTensors { mask, keep, .. } => {
                    crate::optim::esam::draw_mask(&self.spec.model, *keep, rng, host);
                    gpu.write(mask, 0, host)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Give each gradient pass of this step its dropout key, for models with dropout: a hash
    /// of the seed, the step and the pass (`kernels::dropout::pass_key`), so every schedule
    /// and a resumed run draw the same masks. The `dual` worker's key travels in its job.
    fn set_dropout_keys(&mut self) -> Result<()> {
        if !self.spec.model.has_dropout() {
            return Ok(());
        }
        for i in 0..self.rec.evaluators.len() {
            let key = self.dropout_key(i);
            self.rec.evaluators[i].set_dropout_keys(&[key])?;
        }
        let pair_keys = self.pair.map(|p| p.map(|i| self.dropout_key(i)));
        if let (Placed::Fused(pair), Some(keys)) = (&mut self.placed, pair_keys) {
            pair.set_dropout_keys(keys)?;
        }
        Ok(())
    }

    /// The dropout key of gradient pass `pass` in the step about to run.
    pub(crate) fn dropout_key(&self, pass: usize) -> u32 {
        crate::kernels::dropout::pass_key(self.spec.seed, self.steps + 1, pass)
    }
}

/// Write a step's hyper-parameters into update `s` with mix λ; a clip takes the mix, and the
/// step its result alone.
fn set_step(
    gpu: &Gpu,
    (hyper, steps): (BaseHyper, usize),
    (s, lambda, clipped): (&crate::optim::base::BaseStep, f32, bool),
) -> Result<()> {
    let lambda = if clipped { 0.0 } else { lambda };
    s.set(gpu, hyper, steps, lambda)
}
