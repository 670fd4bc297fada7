//! The stateless side of the `dual` schedule: a model's gradient at any point on any batch,
//! on a device of its own. A transport's far end runs it (a thread today, another process
//! later); it holds no optimizer state.

use super::schedule::transport::{Job, Reply};
use crate::error::Result;
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
    /// The gradient followed by `[loss, correct]`: one readback per job.
    back: Readback,
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

    /// The gradient `job` asks for, with the pass's batch statistics (BatchNorm's mean and
    /// biased variance per channel, for the main device's running statistics).
    pub async fn gradient(&mut self, job: &Job) -> Result<Reply> {
        let gpu = &self.gpu;
        gpu.write(&self.point, 0, &job.point)?;
        self.evaluator.set_dropout_keys(&[job.dropout_key])?;
        let plan = self.evaluator.load(gpu, &job.batch)?;
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        Evaluator::record_gradient(plan, &mut encoder);
        let n = self.grads.len;
        self.back.record_part(&mut encoder, &self.grads, 0, n, 0);
        self.back.record_part(&mut encoder, &plan.metrics, 0, 2, n);
        plan.record_batch_stats(&mut encoder, &self.back, 0, n + 2);
        let index = gpu.checked("the worker's gradient", || gpu.submit(encoder.finish()))?;
        let mut grad = self.back.read_after(index).await?;
        let metrics = [grad[n], grad[n + 1]];
        let state = grad.split_off(n + 2);
        grad.truncate(n);
        Ok(Reply {
            grad,
            metrics,
            state,
        })
    }
}
