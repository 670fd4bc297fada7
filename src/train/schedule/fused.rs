//! The fused schedule's evaluator pair: both gradient passes of a stage in the same
//! dispatches.
//!
//! A two-replica [`Evaluator`] owns one point buffer and one gradient buffer, each holding two
//! parameter sets side by side (set r from value `r * stride`; `stride` is a whole number of
//! 256-float rows, so each set starts where a plain buffer-to-texture copy can stage it). A
//! step copies the two evaluation points the program prepared into it, runs one fused forward
//! and backward pass, and copies the two gradients back to where the update reads them. The copies keep the optimizer kernels, which work on whole buffers, as they are;
//! each is one contiguous buffer copy of the parameter vector.

use crate::data::Batch;
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf, TEXTURE_ROW_FLOATS};
use crate::nn::evaluator::Evaluator;
use crate::nn::plan::{METRICS_STRIDE, Plan};

/// Two parameter sets evaluated as replicas of one pass.
#[derive(Debug)]
pub struct FusedPair {
    eval: Evaluator,
    points: GpuBuf<f32>,
    grads: GpuBuf<f32>,
    stride: usize,
}

impl FusedPair {
    /// Buffers and a two-replica evaluator of the model and loss `like` evaluates.
    pub fn new(gpu: &Gpu, like: &Evaluator) -> Result<FusedPair> {
        let (model, smoothing, kernels) = (like.model(), like.smoothing(), like.kernels());
        let n = model.param_count();
        let stride = n.next_multiple_of(TEXTURE_ROW_FLOATS);
        let points = gpu.zeros_rows(stride + n, "fused evaluation points")?;
        let grads = gpu.zeros_rows(stride + n, "fused gradients")?;
        let eval = Evaluator::fused(
            model.clone(),
            smoothing,
            kernels,
            (&points, &grads),
            2,
            stride,
        )?;
        Ok(FusedPair {
            eval,
            points,
            grads,
            stride,
        })
    }

    /// Write replica r's batch `batches[r]` (both of one size).
    pub fn load(&mut self, gpu: &Gpu, batches: [&Batch; 2]) -> Result<()> {
        self.eval.load_all(gpu, &batches).map(|_| ())
    }

    /// The dropout keys of the passes the next load is for (see `kernels::dropout`).
    pub fn set_dropout_keys(&mut self, keys: [u32; 2]) -> Result<()> {
        self.eval.set_dropout_keys(&keys)
    }

    /// The plan loaded for `batch` examples per replica.
    pub fn plan(&self, batch: usize) -> &Plan {
        self.eval.loaded(batch).expect("the step loaded the pair")
    }

    /// Record the gradient at `pair[r]`'s point into `pair[r]`'s gradient buffer, for r = 0, 1,
    /// as one fused pass over the loaded batches.
    pub fn record(&self, batch: usize, pair: [&Evaluator; 2], encoder: &mut wgpu::CommandEncoder) {
        for (r, e) in pair.iter().enumerate() {
            let at = (r * self.stride * 4) as u64;
            let p = e.params();
            encoder.copy_buffer_to_buffer(&p.buffer, 0, &self.points.buffer, at, p.bytes());
        }
        Evaluator::record_gradient(self.plan(batch), encoder);
        for (r, e) in pair.iter().enumerate() {
            let at = (r * self.stride * 4) as u64;
            let g = e.grads();
            encoder.copy_buffer_to_buffer(&self.grads.buffer, at, &g.buffer, 0, g.bytes());
        }
    }

    /// Where replica r's `[loss, correct]` lies in the plan's metrics.
    pub fn metrics_at(r: usize) -> usize {
        r * METRICS_STRIDE
    }
}
