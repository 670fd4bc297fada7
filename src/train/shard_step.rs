//! A data-parallel step of a program whose passes all run here (SGD, SAM and the other
//! programs without a pair on a worker): each gradient pass summed over the replicas as soon as
//! it is computed (see `shard.rs`). BatchNorm normalises each replica's shard by its own
//! statistics, and the running statistics fold the replicas' average (`Trainer::read`).

use super::flight::Recording;
use super::recorder::Prepared;
use super::shard::{Reduce, Shard};
use super::trainer::{Batches, Trainer, plan};
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::evaluator::Evaluator;

impl Trainer {
    /// Make this trainer one replica of a data-parallel run: each step's gradients are summed
    /// with the other replicas' through `reduce`, weighted by [`Trainer::set_share`].
    pub fn set_shard(&mut self, gpu: &Gpu, reduce: Box<dyn Reduce>) {
        let n = self.params().len;
        self.shard = Some(Shard::new(gpu, reduce, n));
    }

    /// This replica's share of the next step's batch (its examples over the batch's).
    pub fn set_share(&mut self, share: f32) {
        if let Some(s) = &mut self.shard {
            s.weight = share;
        }
    }
}

/// Record a step of any program with every gradient pass reduced as it is computed: the
/// operations up to and including each pass in one submission, then the pass's sum, so each
/// later operation reads the whole batch's gradient. The pair, if any, runs serially; the
/// driver submits the operations after the last pass.
pub(crate) async fn record(
    t: &mut Trainer,
    gpu: &Gpu,
    batch: &Batch,
    look: bool,
) -> Result<Recording> {
    let selects = t.rec.ops.iter().any(|op| matches!(op, Prepared::Select(_)));
    if t.choice.is_some() || selects {
        return Err(crate::error::Error::Invalid(format!(
            "{}: data-parallel runs (--schedule mpi with more than two ranks) do not take \
             steps of two forms or choose examples yet; run it on one rank",
            t.spec.optimizer.label()
        )));
    }
    if t.diagnosis.is_some() {
        return Err(crate::error::Error::Invalid(
            "--diagnose-every: data-parallel runs (--schedule mpi with more than two ranks) do \
             not diagnose; run on one or two ranks"
                .into(),
        ));
    }
    let batches = Batches::new(batch, &t.previous);
    for i in 0..t.rec.evaluators.len() {
        let b = batches.of(&t.rec.passes, i);
        t.rec.evaluators[i].load(gpu, b)?;
    }
    let size = |t: &Trainer, i: usize| batches.of(&t.rec.passes, i).len();
    let mut r = Recording::new(gpu);
    for k in 0..t.rec.ops.len() {
        match &t.rec.ops[k] {
            Prepared::Grad(i) => {
                let i = *i;
                Evaluator::record_gradient(plan(&t.rec, i, size(t, i)), &mut r.encoder);
                r.submit_so_far(gpu, "the shard's pass")?;
                let grad = t.rec.vector(t.rec.passes[i].into);
                let shard = t.shard.as_mut().expect("checked by the caller");
                shard.gradients(gpu, grad, None).await?;
            }
            op => op.record_outside_passes(&mut r.encoder, look),
        }
    }
    let reported = t.rec.reported;
    let metrics = &plan(&t.rec, reported, size(t, reported)).metrics;
    t.readback().record_part(&mut r.encoder, metrics, 0, 2, 0);
    // Each updating pass's batch statistics, this replica's shard's, for the running
    // statistics (averaged over the replicas when read back).
    if let Some(ns) = &t.norm_stats {
        for (slot, &i) in ns.passes.iter().enumerate() {
            ns.record(
                (&mut r.encoder, t.readback()),
                slot,
                plan(&t.rec, i, size(t, i)),
                0,
            );
        }
        r.sizes = ns.passes.iter().map(|&i| size(t, i)).collect();
    }
    Ok(r)
}
