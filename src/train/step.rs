//! One training step of any program on its own device (`serial`, `interleaved` and `fused`;
//! `dual` is in `dual_step.rs`): set the step's hyper-parameters, load the batches, record
//! every operation into one submission with the pair of independent passes placed as the
//! schedule says, and read back the reported pass's loss and correct count.

use super::recorder::Prepared;
use super::schedule::fused::FusedPair;
use super::trainer::{Batches, Placed, Trainer, plan, read};
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::evaluator::Evaluator;
use crate::optim::BaseHyper;

impl Trainer {
    /// One optimizer step on `batch` with the base step's hyper-parameters `hyper` (of the
    /// trainer's base); returns `[mean loss, correct count]` of the step's first pass over
    /// `batch` (the program's reported pass). The first step initialises the base's state
    /// (PyTorch semantics).
    pub async fn step_async(
        &mut self,
        gpu: &Gpu,
        batch: &Batch,
        hyper: impl Into<BaseHyper>,
    ) -> Result<[f32; 2]> {
        let hyper = hyper.into();
        let base = self.spec.optimizer.base;
        if hyper.kind() != base {
            return Err(crate::optim::base::mismatch(base, hyper.kind()));
        }
        self.draw_noise(gpu)?;
        self.set_dropout_keys()?;
        let look = self.set_hyper(gpu, hyper)?;
        let m = if matches!(self.placed, Placed::Dual(_)) {
            super::dual_step::step(self, gpu, batch, look).await?
        } else if self.shard.is_some() {
            super::shard_step::step(self, gpu, batch, look).await?
        } else {
            return self.local_step(gpu, batch, look).await;
        };
        match &mut self.shard {
            Some(shard) => shard.metrics(m),
            None => Ok(m),
        }
    }

    /// A step with the pair placed on this device.
    async fn local_step(&mut self, gpu: &Gpu, batch: &Batch, look: bool) -> Result<[f32; 2]> {
        let batches = Batches::new(batch, &self.previous);
        let size = |i: usize| batches.of(&self.rec.passes, i).len();
        // Replicas share a batch size: a step whose two batches differ (at an epoch's end)
        // runs its pair serially.
        let fused = match (&mut self.placed, self.pair) {
            (Placed::Fused(pair), Some([a, b])) if size(a) == size(b) => {
                pair.load(
                    gpu,
                    [
                        batches.of(&self.rec.passes, a),
                        batches.of(&self.rec.passes, b),
                    ],
                )?;
                true
            }
            _ => false,
        };
        for i in 0..self.rec.evaluators.len() {
            if !(fused && self.pair.is_some_and(|p| p.contains(&i))) {
                let b = batches.of(&self.rec.passes, i);
                self.rec.evaluators[i].load(gpu, b)?;
            }
        }
        self.fused_steps += fused as usize;
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        self.record_local(&mut encoder, look, fused, batches);
        let reported = self.rec.reported;
        let in_pair = self
            .pair
            .and_then(|p| p.iter().position(|&q| q == reported));
        let (metrics, at) = match (&self.placed, fused, in_pair) {
            (Placed::Fused(pair), true, Some(r)) => {
                (&pair.plan(size(reported)).metrics, FusedPair::metrics_at(r))
            }
            _ => (&plan(&self.rec, reported, size(reported)).metrics, 0),
        };
        self.readback.record_part(&mut encoder, metrics, at, 2, 0);
        self.watch.record(&mut encoder, &self.readback);
        let sizes = self.record_norm_stats(&mut encoder, fused, batches);
        let index = gpu.checked("training step", || gpu.submit(encoder.finish()))?;
        self.finish_step(batch);
        let ([loss, correct, norm_sq], stats) = read(&self.readback, &self.watch, index).await?;
        self.norm_sq = norm_sq;
        self.fold_norm_stats(&stats, &sizes, None);
        Ok([loss, correct])
    }

    /// Record the copies of the updating passes' batch statistics (replica r of the fused
    /// plan for a pass of a fused pair); returns each pass's batch size.
    fn record_norm_stats(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        fused: bool,
        batches: Batches<'_>,
    ) -> Vec<usize> {
        let Some(ns) = &self.norm_stats else {
            return Vec::new();
        };
        let size = |i: usize| batches.of(&self.rec.passes, i).len();
        for (slot, &i) in ns.passes.iter().enumerate() {
            let in_pair = self.pair.and_then(|p| p.iter().position(|&q| q == i));
            let (p, r) = match (&self.placed, fused, in_pair) {
                (Placed::Fused(pair), true, Some(r)) => (pair.plan(size(i)), r),
                _ => (plan(&self.rec, i, size(i)), 0),
            };
            ns.record((encoder, &self.readback), slot, p, r);
        }
        ns.passes.iter().map(|&i| size(i)).collect()
    }

    /// Fold the batch statistics read back with the step (`stats`) into the running ones;
    /// `remote` is one slot's statistics from a `dual` worker.
    pub(crate) fn fold_norm_stats(
        &mut self,
        stats: &[f32],
        sizes: &[usize],
        remote: Option<(usize, &[f32])>,
    ) {
        if let Some(ns) = &self.norm_stats {
            let target = (&self.spec.model, &mut self.model_state[..]);
            ns.fold(target, stats, sizes, remote);
        }
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

    /// Record every operation of the step, the pair placed as the schedule says.
    fn record_local(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        look: bool,
        fused: bool,
        batches: Batches<'_>,
    ) {
        for op in &self.rec.ops {
            match op {
                Prepared::Grad(i) => self.record_pass(encoder, *i, fused, batches),
                op => op.record_outside_passes(encoder, look),
            }
        }
    }

    /// Record pass `i`, or the whole pair when `i` opens it.
    fn record_pass(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        i: usize,
        fused: bool,
        batches: Batches<'_>,
    ) {
        let plan_of = |i: usize| plan(&self.rec, i, batches.of(&self.rec.passes, i).len());
        let Some([a, b]) = self.pair else {
            return Evaluator::record_gradient(plan_of(i), encoder);
        };
        if i == b {
            return; // recorded with a
        }
        if i != a {
            return Evaluator::record_gradient(plan_of(i), encoder);
        }
        match &self.placed {
            Placed::Fused(pair) if fused => {
                let evals = [&self.rec.evaluators[a], &self.rec.evaluators[b]];
                pair.record(batches.of(&self.rec.passes, a).len(), evals, encoder);
            }
            Placed::Interleaved => {
                Evaluator::record_gradients_interleaved(plan_of(a), plan_of(b), encoder);
            }
            _ => {
                Evaluator::record_gradient(plan_of(a), encoder);
                Evaluator::record_gradient(plan_of(b), encoder);
            }
        }
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
                    // A clip takes the mix, and the step its result alone.
                    let lambda = if clip.is_some() { 0.0 } else { *lambda };
                    s.set(gpu, hyper, steps, lambda)?;
                    if let Some(Prepared::LookAhead(_, mode)) =
                        self.rec.speculative.map(|i| &self.rec.ops[i])
                    {
                        s.set_lookahead(gpu, hyper, *mode);
                    }
                }
                _ => {}
            }
        }
        Ok(look)
    }

    /// Draw this step's random directions on the host (into a buffer reused from step to
    /// step) and upload them.
    fn draw_noise(&mut self, gpu: &Gpu) -> Result<()> {
        for op in &self.rec.ops {
            if let Prepared::Noise(u) = op {
                let (rng, host) = (&mut self.noise, &mut self.noise_host);
                host.clear();
                host.extend((0..u.len).map(|_| rng.normal()));
                gpu.write(u, 0, host)?;
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

    /// The bookkeeping after a step was submitted.
    pub(crate) fn finish_step(&mut self, batch: &Batch) {
        self.steps += 1;
        self.x_in_point = false;
        if self.rec.uses_previous {
            match &mut self.previous {
                Some(prev) => prev.clone_from(batch),
                None => self.previous = Some(batch.clone()),
            }
        }
    }

    /// `[mean loss, correct count]` of `batch` at x, without a gradient.
    pub async fn loss_async(&mut self, gpu: &Gpu, batch: &Batch) -> Result<[f32; 2]> {
        let (i, copy) = self.evaluation;
        let x = self.params().clone();
        let e = &mut self.rec.evaluators[i];
        let point = e.params().clone();
        let plan = e.load(gpu, batch)?;
        if !plan.norms.is_empty() {
            plan.write_eval_stats(gpu, &self.spec.model, &self.model_state)?;
        }
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        if copy && !self.x_in_point {
            // The pass's point is rebuilt by every step before it is read, so x can be
            // evaluated there; one copy serves every batch until the next step.
            encoder.copy_buffer_to_buffer(&x.buffer, 0, &point.buffer, 0, x.bytes());
            self.x_in_point = true;
        }
        Evaluator::record_loss(plan, &mut encoder);
        self.readback
            .record_part(&mut encoder, &plan.metrics, 0, 2, 0);
        let index = gpu.checked("evaluation", || gpu.submit(encoder.finish()))?;
        // Only the metrics were copied: the step's ‖x‖² partial sums are not read here.
        let m = self.readback.read_first_after(2, index).await?;
        Ok([m[0], m[1]])
    }

    /// Blocking [`Trainer::loss_async`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn loss(&mut self, gpu: &Gpu, batch: &Batch) -> Result<[f32; 2]> {
        gpu.block_on(self.loss_async(gpu, batch))
    }
}
