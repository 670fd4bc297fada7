//! The stateless side of the `dual` schedule: a model's gradient at any point on any batch,
//! on a device of its own. A transport's far end runs it (a thread today, another process
//! later); it holds no optimizer state.

use super::schedule::transport::{Job, Reply};
use super::shard::{Reduce, Shard};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf, Readback};
use crate::kernels::Kernels;
use crate::nn::Model;
use crate::nn::evaluator::Evaluator;

/// A worker's device, point, gradient and evaluator.
pub struct WorkerPass {
    gpu: Gpu,
    point: GpuBuf<f32>,
    grads: GpuBuf<f32>,
    evaluator: Evaluator,
    /// Values of the batch statistics per pass.
    stats: usize,
    /// Each group's gradient, then each group's `[loss, correct]`, then each group's batch
    /// statistics: one readback per job.
    back: Readback,
    /// A grouped job's batch in groups (m-sharpness), reused from job to job.
    groups: Vec<Batch>,
    /// Data-parallel pairs with `--sync-bn`: the other workers, with which BatchNorm's sums
    /// are combined.
    shard: Option<Shard>,
}

impl WorkerPass {
    /// Buffers and an evaluator for `model` on `gpu`, its kernels in the forms `kernels` says.
    pub fn new(gpu: Gpu, model: Model, smoothing: f32, kernels: Kernels) -> Result<WorkerPass> {
        let n = model.param_count();
        let point = gpu.zeros::<f32>(n, "worker point")?;
        let grads = gpu.zeros::<f32>(n, "worker gradient")?;
        let stats: usize = model.norm_sites().iter().map(|s| 2 * s.c).sum();
        let evaluator = Evaluator::new(model, smoothing, kernels, &point, &grads)?;
        Ok(WorkerPass {
            back: Readback::new(&gpu, n + 2 + stats),
            stats,
            groups: Vec::new(),
            shard: None,
            gpu,
            point,
            grads,
            evaluator,
        })
    }

    /// The device it runs on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Combine BatchNorm's sums with the other workers' through `reduce` in the jobs that ask
    /// for it (data-parallel pairs with `--sync-bn`), each weighted by its job's share.
    pub fn set_sync_bn(&mut self, reduce: Box<dyn Reduce>) {
        let mut shard = Shard::new(&self.gpu, reduce, self.stats.max(4));
        shard.sync_bn = true;
        self.shard = Some(shard);
    }

    /// The gradient `job` asks for, with the pass's batch statistics (BatchNorm's mean and
    /// biased variance per channel, for the main device's running statistics). A job with
    /// a group size gets one gradient per group of its batch (m-sharpness), one after
    /// another in the reply, with each group's statistics, and the whole batch's metrics.
    pub async fn gradient(&mut self, job: &Job) -> Result<Reply> {
        let gpu = &self.gpu;
        gpu.write(&self.point, 0, &job.point)?;
        if let Some(m) = job.group {
            crate::data::split_groups(&job.batch, m, &mut self.groups);
        }
        let groups = match job.group {
            Some(_) => &self.groups[..],
            None => std::slice::from_ref(&job.batch),
        };
        let (n, count) = (self.grads.len, groups.len());
        let (metrics_at, stats_at) = (count * n, count * (n + 2));
        let len = stats_at + count * self.stats;
        if self.back.capacity() < len {
            self.back = Readback::new(gpu, len);
        }
        let mut last = None;
        // Each group's inputs go to the same plan, so each is a submission of its own.
        for (h, group) in groups.iter().enumerate() {
            // Each group draws masks of its own (group 0 the job's, as a whole batch does).
            let key = crate::kernels::dropout::group_key(job.dropout_key, h);
            self.evaluator.set_dropout_keys(&[key])?;
            let plan = self.evaluator.load(gpu, group)?;
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            match (&mut self.shard, job.sync_share) {
                (Some(shard), Some(share)) if job.group.is_none() => {
                    shard.weight = share;
                    shard.record_gradient(gpu, plan, &mut encoder).await?;
                }
                (_, Some(_)) => {
                    return Err(Error::Invalid(
                        "a job asked for BatchNorm synchronised with the other workers, which \
                         this worker has none of (or for m-sharpness groups)"
                            .into(),
                    ));
                }
                (_, None) => Evaluator::record_gradient(plan, &mut encoder),
            }
            let back = &self.back;
            back.record_part(&mut encoder, &self.grads, 0, n, h * n);
            back.record_part(&mut encoder, &plan.metrics, 0, 2, metrics_at + 2 * h);
            plan.record_batch_stats(&mut encoder, back, 0, stats_at + h * self.stats);
            last = Some(gpu.checked("the worker's gradient", || gpu.submit(encoder.finish()))?);
        }
        let last = last.ok_or_else(|| Error::Invalid("the worker got an empty batch".into()))?;
        let mut grad = self.back.read_first_after(len, last).await?;
        let sizes: Vec<usize> = groups.iter().map(Batch::len).collect();
        let metrics = match job.group {
            Some(_) => super::groups::combine(&grad[metrics_at..stats_at], &sizes),
            None => [grad[n], grad[n + 1]],
        };
        let state = grad.split_off(stats_at);
        grad.truncate(metrics_at);
        Ok(Reply {
            grad,
            metrics,
            state,
        })
    }
}
