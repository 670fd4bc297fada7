//! A data-parallel step of a program whose passes all run here (SGD, SAM and the other
//! programs without a pair on a worker): each gradient pass summed over the replicas as soon as
//! it is computed (see `shard.rs`). BatchNorm normalises each replica's shard by its own
//! statistics, and the running statistics fold the replicas' average (`Trainer::read`); or,
//! with `--sync-bn`, each pass stops at every BatchNorm's synchronisation points
//! ([`crate::kernels::SyncPoint`]) to combine its statistics over the replicas, so that every
//! replica normalises with the whole batch's.

use super::flight::Recording;
use super::recorder::Prepared;
use super::shard::{Reduce, Shard};
use super::trainer::{Batches, Trainer, plan};
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::Gpu;

impl Trainer {
    /// Make this trainer one replica of a data-parallel run: each step's gradients are summed
    /// with the other replicas' through `reduce`, weighted by [`Trainer::set_share`].
    pub fn set_shard(&mut self, gpu: &Gpu, reduce: Box<dyn Reduce>) {
        let n = self.params().len;
        self.shard = Some(Shard::new(gpu, reduce, n));
    }

    /// This replica's share of the next step's batch: `examples` of the batch's `whole`.
    pub fn set_share(&mut self, examples: usize, whole: usize) {
        if let Some(s) = &mut self.shard {
            s.weight = examples as f32 / whole as f32;
            s.whole = whole;
        }
    }

    /// Seconds this replica has spent summing with the others (MPI's all-reduce, waiting for
    /// the slowest included); `None` unless it is a replica of a data-parallel run.
    pub fn reduce_seconds(&self) -> Option<f64> {
        self.shard.as_ref().map(|s| s.seconds)
    }

    /// The examples whose statistics each pass that updates the running statistics leaves,
    /// `size(pass)` its own batch's: the whole batch's with --sync-bn, whose variance is so
    /// made unbiased over the whole batch.
    pub(crate) fn norm_sizes(&self, size: impl Fn(usize) -> usize) -> Vec<usize> {
        let whole = self.shard.as_ref().filter(|s| s.sync_bn).map(|s| s.whole);
        let passes = self
            .norm_stats
            .as_ref()
            .map_or(&[][..], |ns| &ns.passes[..]);
        passes.iter().map(|&i| whole.unwrap_or(size(i))).collect()
    }

    /// Normalise BatchNorm with the whole batch's statistics, combined over the replicas in
    /// each pass (`--sync-bn`), rather than with each replica's own.
    pub fn set_sync_bn(&mut self, sync: bool) {
        if let Some(s) = &mut self.shard {
            s.sync_bn = sync;
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
                let p = plan(&t.rec, i, size(t, i));
                let shard = t.shard.as_mut().expect("checked by the caller");
                shard.record_gradient(gpu, p, &mut r.encoder).await?;
                r.submit_so_far(gpu, "the shard's pass")?;
                let grad = t.rec.vector(t.rec.passes[i].into);
                shard.gradients(gpu, grad, None).await?;
            }
            op => op.record_outside_passes(&mut r.encoder, look),
        }
    }
    let reported = t.rec.reported;
    let metrics = &plan(&t.rec, reported, size(t, reported)).metrics;
    t.readback().record_part(&mut r.encoder, metrics, 0, 2, 0);
    // Each updating pass's batch statistics, for the running statistics: this replica's
    // shard's (averaged over the replicas when read back), or the whole batch's with
    // --sync-bn.
    if let Some(ns) = &t.norm_stats {
        for (slot, &i) in ns.passes.iter().enumerate() {
            ns.record(
                (&mut r.encoder, t.readback()),
                slot,
                plan(&t.rec, i, size(t, i)),
                0,
            );
        }
        r.sizes = t.norm_sizes(|i| size(t, i));
    }
    Ok(r)
}
