//! A training start that another framework can repeat: the initial weights the step
//! benchmarks use, their synthetic batch, and the losses of sampa's first SGD steps on it.
//! `scripts/torch-step` loads the file into the same PyTorch model, takes the same steps and
//! prints how far its losses are from these, which checks that the two programs time the same
//! computation.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::kernels::sgd::SgdHyper;
use crate::nn::Model;
use crate::nn::layer::Act;
use crate::nn::weights::{self, Tensor};
use crate::train::{Placement, Trainer};

/// The SGD settings of the reference steps: `sampa train`'s defaults.
pub const HYPER: SgdHyper = SgdHyper {
    lr: 0.05,
    momentum: 0.9,
    weight_decay: 5e-4,
    nesterov: false,
};

/// Steps taken; the losses are those at x0, x1 and x2.
pub const STEPS: usize = 3;

/// The tensors of the file (the model's `state_dict` under PyTorch's names, then `input`
/// shaped as the model takes it and `target` as f32 class indices) and the losses of
/// [`STEPS`] SGD steps with [`HYPER`] from those weights on that batch, each taken before
/// its step's update.
pub fn reference_step(
    gpu: &Gpu,
    (model, kernels): (&Model, Kernels),
    batch: usize,
) -> Result<(Vec<Tensor>, Vec<f32>)> {
    let serial = Placement::Serial;
    let mut trainer = Trainer::seeded(gpu, (model, kernels), Default::default(), serial)?;
    let data = model.synthetic_batch(batch);
    let mut tensors = weights::model_tensors(model, &model.init(0));
    tensors.extend(weights::state_tensors(model, &model.init_state()));
    let shape = match model.input_shape {
        Act::Flat(n) => vec![batch, n],
        Act::Image(c, h, w) => vec![batch, c, h, w],
        Act::Seq(t, w) => vec![batch, t, w],
        Act::Text(t) => vec![batch, 3, t],
    };
    tensors.push(weights::f32s("input", shape, &data.pixels));
    let labels: Vec<f32> = data.labels.iter().map(|&l| l as f32).collect();
    tensors.push(weights::f32s("target", vec![batch], &labels));
    let mut losses = Vec::new();
    for _ in 0..STEPS {
        losses.push(trainer.step(gpu, &data, HYPER)?[0]);
    }
    Ok((tensors, losses))
}
