//! Data-parallel steps: replicas of one trainer, each on a shard of every batch, that sum
//! their gradients before the update so that every replica takes the same step.
//!
//! A replica's gradients are means over its shard; weighted by the shard's share of the
//! batch (its examples over the batch's) and summed over the replicas, they are the mean over
//! the whole batch, as one trainer on the whole batch computes it, up to the order of the
//! sums. Every gradient pass is reduced, not only the mix the update takes: SAMPa's next
//! perturbation, SAM's ascent step and RandSAM's all read single passes, and a replica that
//! used its own shard's gradient there would leave the others. The reported loss and correct
//! count are reduced the same way. The reduction itself (MPI's all-reduce) is behind
//! [`Reduce`], so the core knows nothing of processes. The step that reduces each pass as it is
//! computed (for programs without a pair on a worker) is `shard_step.rs`. With `--sync-bn` a
//! shard also combines every BatchNorm's statistics mid-pass ([`Shard::record_gradient`]), on
//! the mains and on the workers of pairs alike.

use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf, Readback};
use crate::kernels::SyncPoint;
use crate::nn::evaluator::{Evaluator, Plan};

/// A sum over every replica, in place: each replica's `values` become the sum of all of
/// theirs.
pub trait Reduce: Send {
    /// Sum `values` elementwise over the replicas.
    fn sum(&mut self, values: &mut [f32]) -> Result<()>;
}

/// A trainer's part in a data-parallel run.
pub struct Shard {
    reduce: Box<dyn Reduce>,
    /// This replica's share of the current step's batch.
    pub(crate) weight: f32,
    /// The current step's whole batch, over every replica.
    pub(crate) whole: usize,
    /// Whether BatchNorm normalises with the whole batch's statistics (`--sync-bn`, as
    /// PyTorch's SyncBatchNorm) rather than each replica's own.
    pub(crate) sync_bn: bool,
    /// Seconds spent in the reduction so far (waiting for the slowest replica included).
    pub(crate) seconds: f64,
    back: Readback,
}

impl Shard {
    /// A shard of a trainer with `n` parameters (or of a worker's pass, with `n` its batch
    /// statistics: it only synchronises), summing through `reduce`.
    pub fn new(gpu: &Gpu, reduce: Box<dyn Reduce>, n: usize) -> Shard {
        Shard {
            reduce,
            weight: 1.0,
            whole: 0,
            sync_bn: false,
            seconds: 0.0,
            back: Readback::new(gpu, n),
        }
    }

    /// `values` summed over the replicas, timed.
    fn sum(&mut self, values: &mut [f32]) -> Result<()> {
        let start = crate::clock::now();
        let summed = self.reduce.sum(values);
        self.seconds += crate::clock::now() - start;
        summed
    }

    /// Record `plan`'s gradient pass into `encoder`: with `--sync-bn` up to each of its
    /// synchronisation points in turn, combining the point's values over the replicas there
    /// ([`Shard::synchronise`]); otherwise straight through.
    pub(crate) async fn record_gradient(
        &mut self,
        gpu: &Gpu,
        plan: &Plan,
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<()> {
        if !self.sync_bn {
            Evaluator::record_gradient(plan, encoder);
            return Ok(());
        }
        for d in plan.gradient() {
            let mut at = 0;
            while let Some((sync, next)) = d.record_to_sync(encoder, at) {
                self.synchronise(gpu, encoder, sync).await?;
                at = next;
            }
        }
        Ok(())
    }

    /// Combine the values of a [`SyncPoint`] over the replicas, as it says, once the
    /// operations recorded so far in `encoder` have written them: they are submitted (the
    /// encoder starts afresh), read back, summed with the others' weighted by share, and
    /// written back before anything recorded after this point runs.
    async fn synchronise(
        &mut self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        sync: &SyncPoint,
    ) -> Result<()> {
        let len = sync.values.len();
        let count = len * sync.replicas;
        if count > self.back.capacity() {
            // Statistics are a few values per channel; the parameters far outnumber them.
            self.back = Readback::new(gpu, count);
        }
        for k in 0..sync.replicas {
            let from = k * sync.stride + sync.values.start;
            self.back
                .record_part(encoder, &sync.buf, from, len, k * len);
        }
        let fresh = gpu.device.create_command_encoder(&Default::default());
        let done = std::mem::replace(encoder, fresh);
        let what = "the shard's BatchNorm statistics";
        let index = gpu.checked(what, || gpu.submit(done.finish()))?;
        let mut values = self.back.read_first_after(count, index).await?;
        values.truncate(count);
        self.average(&mut values)?;
        for (k, combined) in values.chunks(len).enumerate() {
            let start = k * sync.stride;
            gpu.write(&sync.buf, start + sync.values.start, combined)?;
            if let Some((at, eps)) = sync.invstd {
                let invstd: Vec<f32> = combined.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
                gpu.write(&sync.buf, start + at, &invstd)?;
            }
        }
        Ok(())
    }

    /// Replace the device vector `grad` (written by submissions already made) and the host
    /// vector `remote` (when given) by their weighted sums over the replicas, in one
    /// reduction.
    pub(crate) async fn gradients(
        &mut self,
        gpu: &Gpu,
        grad: &GpuBuf<f32>,
        remote: Option<&mut Vec<f32>>,
    ) -> Result<()> {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        self.back.record(&mut encoder, grad);
        let index = gpu.checked("the shard's gradient", || gpu.submit(encoder.finish()))?;
        let mut values = self.back.read_after(index).await?;
        let n = values.len();
        if let Some(r) = &remote {
            values.extend_from_slice(r);
        }
        let w = self.weight;
        values.iter_mut().for_each(|v| *v *= w);
        self.sum(&mut values)?;
        gpu.write(grad, 0, &values[..n])?;
        if let Some(r) = remote {
            r.copy_from_slice(&values[n..]);
        }
        Ok(())
    }

    /// Values summed over the replicas, each weighted by its share of the batch (a replica
    /// without examples adds nothing): BatchNorm's batch statistics averaged, so that every
    /// replica folds the same values into its running statistics, which so stay identical;
    /// or SyncBatchNorm's per-channel values mid-pass.
    pub(crate) fn average(&mut self, stats: &mut [f32]) -> Result<()> {
        let w = self.weight;
        stats
            .iter_mut()
            .for_each(|v| *v = if w == 0.0 { 0.0 } else { *v * w });
        self.sum(stats)
    }

    /// The batch's mean loss and correct count from this replica's.
    pub(crate) fn metrics(&mut self, [loss, correct]: [f32; 2]) -> Result<[f32; 2]> {
        // A replica without examples this step (weight 0) counts none correct.
        let correct = if self.weight == 0.0 { 0.0 } else { correct };
        let mut m = [loss * self.weight, correct];
        self.sum(&mut m)?;
        Ok(m)
    }
}
