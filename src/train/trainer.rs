//! SGD training state on one device, and one step of it.
//!
//! A step is one submission: the evaluator's forward, loss and backward, the SGD update and a
//! copy of the two metric scalars into a persistent staging buffer, then one small readback.

use crate::data::Batch;
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf, Readback};
use crate::kernels::sgd::{SgdHyper, SgdStep};
use crate::nn::Model;
use crate::nn::evaluator::Evaluator;

/// Parameters, gradients and momentum of one model on one device, with the prepared step.
#[derive(Debug)]
pub struct Trainer {
    /// The gradient evaluator bound to this trainer's parameters and gradients.
    pub evaluator: Evaluator,
    params: GpuBuf<f32>,
    // The momentum buffer lives on through the SGD step's bind group.
    sgd: SgdStep,
    readback: Readback,
    steps: usize,
}

impl Trainer {
    /// Upload `x0` (laid out as `model.params`) and prepare the step.
    pub fn new(gpu: &Gpu, model: &Model, smoothing: f32, x0: &[f32]) -> Result<Trainer> {
        let params = gpu.upload(x0, "parameters")?;
        let grads = gpu.zeros::<f32>(x0.len(), "gradients")?;
        let momentum = gpu.zeros::<f32>(x0.len(), "momentum")?;
        let evaluator = Evaluator::new(model.clone(), smoothing, &params, &grads)?;
        let sgd = SgdStep::prepare(gpu, grads.view(), params.view(), momentum.view())?;
        Ok(Trainer {
            evaluator,
            params,
            sgd,
            readback: Readback::new(gpu, 2),
            steps: 0,
        })
    }

    /// One SGD step on `batch`; returns `[mean loss, correct count]` of the batch before the
    /// update. The first step initialises the momentum buffer (PyTorch semantics).
    pub fn step(&mut self, gpu: &Gpu, batch: &Batch, hyper: SgdHyper) -> Result<[f32; 2]> {
        let plan = self.evaluator.load(gpu, batch)?;
        self.sgd.set(gpu, hyper, self.steps == 0);
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        Evaluator::record_gradient(plan, &mut encoder);
        self.sgd.dispatch.record(&mut encoder);
        self.readback.record(&mut encoder, &plan.metrics);
        gpu.checked("training step", || gpu.queue.submit([encoder.finish()]))?;
        self.steps += 1;
        self.read(gpu)
    }

    /// `[mean loss, correct count]` of `batch` at the current parameters, without a gradient.
    pub fn loss(&mut self, gpu: &Gpu, batch: &Batch) -> Result<[f32; 2]> {
        let plan = self.evaluator.load(gpu, batch)?;
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        Evaluator::record_loss(plan, &mut encoder);
        self.readback.record(&mut encoder, &plan.metrics);
        gpu.queue.submit([encoder.finish()]);
        self.read(gpu)
    }

    fn read(&self, gpu: &Gpu) -> Result<[f32; 2]> {
        let m = self.readback.read(gpu)?;
        Ok([m[0], m[1]])
    }

    /// The parameter buffer.
    pub fn params(&self) -> &GpuBuf<f32> {
        &self.params
    }

    /// Steps taken.
    pub fn steps(&self) -> usize {
        self.steps
    }
}
