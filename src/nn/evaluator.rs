//! The GPU gradient evaluator: `evaluate(params, batch) -> (flat grad, loss, correct)`.
//!
//! It is bound to one parameter buffer and one gradient buffer (both laid out as
//! [`Model::params`] says) and owns its activation workspace, so two evaluators can run at
//! the same time without sharing scratch memory. For each batch size it meets (the full batch,
//! the last partial one, the test set's) it builds a [`Plan`] once: activation buffers and
//! every prepared dispatch. A step then only writes the batch and records the plan, with no
//! allocation.
//!
//! A fused evaluator holds several replicas of everything: its parameter and gradient buffers
//! hold that many parameter sets side by side, and each plan that many batches, workspaces and
//! metrics. Every layer kernel then processes all replicas in one dispatch (the replica is the
//! grid's z index), so the fused schedule runs SAMPa's two gradient passes with half the
//! dispatches and barriers, each replica computing exactly what a single evaluator would.

use super::model::Model;
use super::plan::{self, Bound};
pub use super::plan::{METRICS_STRIDE, Plan};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};
use crate::kernels::{Kernels, mse};
use std::collections::HashMap;

/// A model bound to a parameter buffer and a gradient buffer on one device.
#[derive(Debug)]
pub struct Evaluator {
    bound: Bound,
    plans: HashMap<usize, Plan>,
    /// Each replica's dropout key, 4 values apart as the plans hold them, written with every
    /// batch (0 until set).
    dropout_keys: Vec<u32>,
}

impl Evaluator {
    /// Bind `model` to `params` and `grads` (each `model.param_count()` long); its kernels
    /// run in the forms `kernels` names.
    pub fn new(
        model: Model,
        smoothing: f32,
        kernels: Kernels,
        params: &GpuBuf<f32>,
        grads: &GpuBuf<f32>,
    ) -> Result<Self> {
        Self::fused(model, smoothing, kernels, (params, grads), 1, 0)
    }

    /// Bind `model` to `replicas` parameter sets and gradients side by side in `params` and
    /// `grads`, set r starting at value `r * stride`.
    pub fn fused(
        model: Model,
        smoothing: f32,
        kernels: Kernels,
        (params, grads): (&GpuBuf<f32>, &GpuBuf<f32>),
        replicas: usize,
        stride: usize,
    ) -> Result<Self> {
        let n = model.param_count();
        // One set fills its buffers exactly; more lie `stride` apart without overlapping.
        let stride = if replicas > 1 { stride } else { n };
        let need = replicas.saturating_sub(1) * stride + n;
        if replicas == 0 || stride < n || params.len != need || grads.len != need {
            return Err(Error::shape(
                "evaluator",
                format!(
                    "{replicas} replicas of {} ({n} parameters) every {stride} values need \
                     buffers of {need}; got {} and {}",
                    model.name, params.len, grads.len
                ),
            ));
        }
        if !(0.0..1.0).contains(&smoothing) {
            return Err(Error::Invalid(format!(
                "label smoothing must be in [0, 1), got {smoothing}"
            )));
        }
        if model.regression() && smoothing != 0.0 {
            return Err(Error::Invalid(format!(
                "--label-smoothing {smoothing}: {} is a regression (one output, mean squared \
                 error), which has no labels to smooth; leave --label-smoothing out",
                model.name
            )));
        }
        let bound = Bound {
            model,
            smoothing,
            kernels,
            params: params.clone(),
            grads: grads.clone(),
            replicas,
            stride,
        };
        Ok(Evaluator {
            dropout_keys: vec![0; 4 * replicas],
            bound,
            plans: HashMap::new(),
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.bound.model
    }

    /// The kernel forms it runs.
    pub fn kernels(&self) -> Kernels {
        self.bound.kernels
    }

    /// Parameter sets side by side, and the values from one to the next.
    pub fn replicas(&self) -> (usize, usize) {
        (self.bound.replicas, self.bound.stride)
    }

    /// The label smoothing of its loss.
    pub fn smoothing(&self) -> f32 {
        self.bound.smoothing
    }

    /// The parameter buffer this evaluator reads.
    pub fn params(&self) -> &GpuBuf<f32> {
        &self.bound.params
    }

    /// The gradient buffer this evaluator writes.
    pub fn grads(&self) -> &GpuBuf<f32> {
        &self.bound.grads
    }

    /// The plan for `batch` examples, built on first use.
    pub fn plan(&mut self, gpu: &Gpu, batch: usize) -> Result<&Plan> {
        if !self.plans.contains_key(&batch) {
            let plan = plan::build(&self.bound, gpu, batch)?;
            self.plans.insert(batch, plan);
        }
        Ok(&self.plans[&batch])
    }

    /// The dropout keys of the passes the next batches load for (one per replica): a Wide
    /// ResNet's dropout masks are a hash of the key (`kernels::dropout`), so the trainer gives
    /// each gradient pass its own, derived from the seed, the step and the pass.
    pub fn set_dropout_keys(&mut self, keys: &[u32]) -> Result<()> {
        if keys.len() != self.bound.replicas {
            return Err(Error::shape(
                "evaluator",
                format!(
                    "{} replicas need as many dropout keys, got {}",
                    self.bound.replicas,
                    keys.len()
                ),
            ));
        }
        for (at, &k) in self.dropout_keys.iter_mut().step_by(4).zip(keys) {
            *at = k;
        }
        Ok(())
    }

    /// The plan for `batch` examples if one was built (by [`Evaluator::load`]).
    pub fn loaded(&self, batch: usize) -> Option<&Plan> {
        self.plans.get(&batch)
    }

    /// Write `batch` into its plan's input buffers; returns the plan to record.
    pub fn load(&mut self, gpu: &Gpu, batch: &Batch) -> Result<&Plan> {
        self.load_all(gpu, &[batch])
    }

    /// Write one batch per replica (all of one size) into their plan's input buffers; returns
    /// the plan to record.
    pub fn load_all(&mut self, gpu: &Gpu, batches: &[&Batch]) -> Result<&Plan> {
        let n = batches.first().map_or(0, |b| b.len());
        if batches.len() != self.bound.replicas || batches.iter().any(|b| b.len() != n) {
            return Err(Error::shape(
                "evaluator",
                format!(
                    "{} replicas need as many batches of one size, got sizes {:?}",
                    self.bound.replicas,
                    batches.iter().map(|b| b.len()).collect::<Vec<_>>()
                ),
            ));
        }
        for batch in batches {
            if n == 0 || batch.pixels.len() != n * self.bound.model.input {
                return Err(Error::shape(
                    "evaluator",
                    format!(
                        "a batch of {n} needs {} input values, got {}",
                        n * self.bound.model.input,
                        batch.pixels.len()
                    ),
                ));
            }
            let model = &self.bound.model;
            // A regression's labels are its targets' bits (`kernels::mse`), which must be
            // numbers; a classifier's are classes.
            if model.regression() {
                if let Some(&bad) = batch
                    .labels
                    .iter()
                    .find(|&&l| !mse::target_of(l).is_finite())
                {
                    return Err(Error::Invalid(format!(
                        "regression target {} is not a finite number",
                        mse::target_of(bad)
                    )));
                }
            } else if let Some(&bad) = batch.labels.iter().find(|&&l| l as usize >= model.classes) {
                return Err(Error::Invalid(format!(
                    "label {bad} is outside the model's {} classes",
                    self.bound.model.classes
                )));
            }
        }
        let per_input = (n * self.bound.model.input).next_multiple_of(4);
        let per_label = n.next_multiple_of(4);
        self.plan(gpu, n)?;
        let plan = &self.plans[&n];
        for (r, batch) in batches.iter().enumerate() {
            gpu.write(&plan.input, r * per_input, &batch.pixels)?;
            gpu.write(&plan.labels, r * per_label, &batch.labels)?;
        }
        if self.bound.model.has_dropout() {
            gpu.write(&plan.dropout_keys, 0, &self.dropout_keys)?;
        }
        Ok(plan)
    }

    /// Record forward, loss and backward: the gradient lands in the gradient buffer and
    /// `[loss, correct]` in `plan.metrics`.
    pub fn record_gradient(plan: &Plan, encoder: &mut wgpu::CommandEncoder) {
        plan.record_gradient(encoder);
    }

    /// Record two gradient passes layer by layer in turn (a's layer k, then b's layer k), so
    /// neighbouring dispatches are independent and a GPU may overlap them. The plans belong to
    /// evaluators with separate workspaces and gradient buffers; the result equals recording
    /// one pass after the other.
    pub fn record_gradients_interleaved(a: &Plan, b: &Plan, encoder: &mut wgpu::CommandEncoder) {
        for (x, y) in a.forward.iter().zip(&b.forward) {
            x.record(encoder);
            y.record(encoder);
        }
        a.loss_with_grad.record(encoder);
        b.loss_with_grad.record(encoder);
        for (x, y) in a.backward.iter().zip(&b.backward) {
            x.record(encoder);
            y.record(encoder);
        }
    }

    /// Record forward and loss only (evaluation).
    pub fn record_loss(plan: &Plan, encoder: &mut wgpu::CommandEncoder) {
        plan.record_loss(encoder);
    }

    /// Compute the gradient of the mean loss over `batch` at the current parameters, and
    /// return `(mean loss, correct)`. Blocking; training records plans instead.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn evaluate(&mut self, gpu: &Gpu, batch: &Batch) -> Result<(f32, usize)> {
        let plan = self.load(gpu, batch)?;
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        Self::record_gradient(plan, &mut encoder);
        gpu.submit(encoder.finish());
        let m = gpu.read(&plan.metrics)?;
        Ok((m[0], m[1] as usize))
    }
}
