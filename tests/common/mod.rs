//! Shared test helpers: the library's own (`sampa::gpu::testing`), which the kernels' unit
//! tests use too.
#![allow(dead_code, unused_imports)]

pub mod chrome;
pub mod cli;

pub use sampa::gpu::testing::{assert_close, compare, gpus};

use sampa::data::Batch;
use sampa::kernels::Kernels;
use sampa::nn::Model;
use sampa::nn::evaluator::Evaluator;
use sampa::nn::reference;
use sampa::optim::OptimizerConfig;
use sampa::rng::Pcg;
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

/// A batch of `n` random examples of `inputs` values in [0, 1) and labels below `classes`.
pub fn random_batch(rng: &mut Pcg, n: usize, inputs: usize, classes: usize) -> Batch {
    Batch {
        pixels: rng.vec(n * inputs, 0.0, 1.0),
        labels: (0..n).map(|_| rng.below(classes as u32)).collect(),
        drawn: Vec::new(),
    }
}

/// The GPU evaluator's loss, correct count and gradient against the f64 reference.
pub fn check_evaluator(gpu: &sampa::Gpu, model: &Model, batch: usize) {
    check_evaluator_with(gpu, model, batch, kernels(gpu));
}

/// [`check_evaluator`] with the kernel forms `k`.
pub fn check_evaluator_with(gpu: &sampa::Gpu, model: &Model, batch: usize, k: Kernels) {
    let x = model.init(11);
    let params = gpu.upload(&x, "params").unwrap();
    let grads = gpu.zeros::<f32>(x.len(), "grads").unwrap();
    let mut ev = Evaluator::new(model.clone(), 0.1, k, &params, &grads).unwrap();
    let b = random_batch(&mut Pcg::new(5, 0), batch, model.input, model.classes);
    let (loss, correct) = ev.evaluate(gpu, &b).unwrap();
    let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let inputs: Vec<f64> = b.pixels.iter().map(|&v| v as f64).collect();
    let want = reference::evaluate(model, &xs, &inputs, &b.labels, 0.1);
    let what = format!(
        "{} {} batch {batch} {:?}",
        gpu.adapter.short(),
        model.name,
        k.matmul
    );
    assert_close(&format!("{what} loss"), &[loss], &[want.loss], 1e-5, 1e-5);
    assert_eq!(correct, want.correct, "{what}: correct count");
    let scale = want.grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert_close(
        &format!("{what} gradient"),
        &gpu.read(&grads).unwrap(),
        &want.grad,
        1e-5 * scale,
        1e-4,
    );
}
