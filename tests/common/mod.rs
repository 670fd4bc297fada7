//! Shared test helpers: the library's own (`sampa::gpu::testing`), which the kernels' unit
//! tests use too.
#![allow(dead_code, unused_imports)]

pub mod chrome;
pub mod cli;

pub use sampa::gpu::testing::{assert_close, compare, gpus};

use sampa::kernels::Kernels;
use sampa::nn::Model;
use sampa::optim::OptimizerConfig;
use sampa::train::{Trainer, TrainerSpec};

/// The kernel forms `gpu` uses (measured once per adapter and cached, as a run does).
pub fn kernels(gpu: &sampa::Gpu) -> Kernels {
    sampa::tuning::choose(gpu).expect("kernel forms for the adapter")
}

/// A trainer of `optimizer` for `model` on `gpu` from `x0`.
pub fn trainer(
    gpu: &sampa::Gpu,
    model: &Model,
    smoothing: f32,
    x0: &[f32],
    optimizer: OptimizerConfig,
    seed: u64,
) -> Trainer {
    let spec = TrainerSpec {
        model: model.clone(),
        smoothing,
        optimizer,
        seed,
        kernels: kernels(gpu),
    };
    Trainer::new(gpu, spec, x0).expect("a trainer")
}

/// Write `params` of `model` as a safetensors file with no metadata, as another tool (PyTorch's
/// `safetensors.torch.save_file`) would.
pub fn save_plain(model: &Model, params: &[f32], path: &std::path::Path) {
    let tensors = sampa::nn::weights::model_tensors(model, params);
    let bytes = sampa::nn::weights::serialize(&tensors, None).unwrap();
    std::fs::write(path, bytes).unwrap();
}
