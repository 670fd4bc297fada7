//! What an optimizer's f64 reference step sees: the state before the step, its batches and a
//! gradient oracle (the model's f64 reference). Each optimizer's module writes its step
//! against this, beside its GPU program.

use super::base::BaseHyper;
use super::config::OptimizerConfig;
use crate::data::Batch;
use crate::kernels::perturb::Perturbation;
use crate::nn::reference::Evaluation;

/// One reference step's inputs.
pub struct RefStep<'a> {
    /// The optimizer.
    pub config: OptimizerConfig,
    /// The parameters before the step.
    pub x: &'a [f64],
    /// The base optimizer's state before the step.
    pub state: &'a [Vec<f64>],
    /// The step's base-step hyper-parameters.
    pub hyper: BaseHyper,
    /// Steps taken before this one (0: the run's first step).
    pub steps: usize,
    /// The batch loaded for this step.
    pub batch: &'a Batch,
    /// The previous step's batch (this one on the first step).
    pub previous: &'a Batch,
    /// ∇L(p; b) with its loss, in f64: the step's next gradient pass.
    pub grad: &'a dyn Fn(&[f64], &Batch) -> Evaluation,
    /// Each example's loss at p on b, in training mode, as a loss-only pass of the step's
    /// next gradient pass's evaluator (with its dropout key) computes it; not a pass itself.
    pub losses: &'a dyn Fn(&[f64], &Batch) -> Vec<f64>,
    /// The model (where its normalisation layers' parameters are, for SAM-ON).
    pub model: &'a crate::nn::Model,
    /// Weight decay's mask, when the run exempts some tensors (`--no-wd-1d`).
    pub decay: Option<&'a crate::kernels::decay::DecayMask>,
}

impl RefStep<'_> {
    /// The perturbation the options ask for.
    pub fn perturbation(&self) -> Perturbation {
        self.config.perturbation()
    }
}

/// What a reference step hands to the base step: the gradient to step with and the loss of
/// the step's first pass over the new batch.
pub struct RefGradient {
    /// The base step's gradient.
    pub grad: Vec<f64>,
    /// The reported loss.
    pub loss: f64,
}
