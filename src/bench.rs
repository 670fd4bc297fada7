//! Cross-adapter benchmarks: the same kernels on every adapter, reported side by side.

use crate::data::Batch;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::matmul::{Dims, Form, Variant};
use crate::kernels::sgd::SgdHyper;
use crate::nn::Model;
use crate::train::Trainer;
use crate::tuning::{self, MatmulChoice};
use serde::Serialize;
use std::time::Instant;

/// One measured product.
#[derive(Clone, Debug, Serialize)]
pub struct MatmulRow {
    /// `#i Backend Type "name"`.
    pub adapter: String,
    /// Backend name.
    pub backend: String,
    /// `reg` or `tiled`.
    pub variant: String,
    /// Which workload the product belongs to (`square` or `mlp`).
    pub group: String,
    /// Human-readable description of the product.
    pub shape: String,
    /// Median milliseconds per product.
    pub ms: f64,
    /// GFLOP/s.
    pub gflops: f64,
}

/// The products of one SGD step of the MLP 784-256-256-10 at batch 128.
pub fn mlp_products() -> Vec<(String, Form, Dims)> {
    Model::mlp(784, &[256, 256], 10)
        .expect("valid MLP")
        .matmul_products(128)
}

/// What [`matmul`] measured on one adapter.
#[derive(Clone, Debug)]
pub struct MatmulBench {
    /// One row per product and variant.
    pub rows: Vec<MatmulRow>,
    /// Per variant, the aggregate GFLOP/s of all the MLP step's products.
    pub mlp_rates: Vec<(Variant, f64)>,
}

/// Time `variants` on square products of `sizes` and on the MLP step's products, on `gpu`.
pub fn matmul(
    gpu: &Gpu,
    variants: &[Variant],
    sizes: &[usize],
    reps: usize,
    mut progress: impl FnMut(&MatmulRow),
) -> Result<MatmulBench> {
    let mut rows = Vec::new();
    let mut mlp_rates = Vec::new();
    let row = |variant: Variant, group: &str, shape: String, dims: Dims, secs: f64| MatmulRow {
        adapter: gpu.adapter.short(),
        backend: gpu.adapter.backend.clone(),
        variant: variant.name().to_string(),
        group: group.to_string(),
        shape,
        ms: secs * 1e3,
        gflops: dims.flops() / secs / 1e9,
    };
    for &v in variants {
        for &s in sizes {
            let dims = Dims { m: s, n: s, k: s };
            let secs = tuning::time_product(gpu, v, Form::AB, dims, reps)?;
            let r = row(v, "square", format!("{s}×{s}×{s} A·B"), dims, secs);
            progress(&r);
            rows.push(r);
        }
        let (mut flops, mut secs_total) = (0.0, 0.0);
        for (name, form, dims) in mlp_products() {
            let secs = tuning::time_product(gpu, v, form, dims, reps)?;
            flops += dims.flops();
            secs_total += secs;
            let r = row(
                v,
                "mlp",
                format!("{name} {}×{}×{}", dims.m, dims.n, dims.k),
                dims,
                secs,
            );
            progress(&r);
            rows.push(r);
        }
        mlp_rates.push((v, flops / secs_total / 1e9));
    }
    Ok(MatmulBench { rows, mlp_rates })
}

/// Choose the variant with the best MLP-step rate and record it in the tuning cache.
pub fn record_choice(gpu: &Gpu, mlp_rates: &[(Variant, f64)]) -> Option<MatmulChoice> {
    let best = mlp_rates.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let choice = MatmulChoice {
        variant: best.0.name().to_string(),
        gflops: mlp_rates
            .iter()
            .map(|(v, r)| (v.name().to_string(), *r))
            .collect(),
        workload: "all matmuls of one MLP 784-256-256-10 SGD step at batch 128 (sampa bench)"
            .to_string(),
    };
    tuning::store(gpu, &choice);
    gpu.set_matmul_variant(best.0);
    Some(choice)
}

/// One model's SGD step on one adapter.
#[derive(Clone, Debug, Serialize)]
pub struct StepRow {
    /// `#i Backend Type "name"`.
    pub adapter: String,
    /// The model.
    pub model: String,
    /// Examples per step.
    pub batch: usize,
    /// Median milliseconds of a whole step: upload, forward, backward, update, scalar readback.
    pub step_ms: f64,
    /// Examples per second at that step time.
    pub examples_per_s: f64,
    /// Milliseconds of the step's matrix products alone, with the adapter's matmul variant.
    pub matmul_ms: f64,
    /// GFLOP of the step's matrix products.
    pub gflop: f64,
    /// matmul_ms / step_ms: the step's FLOP rate as a fraction of the matmul benchmark's on
    /// the same shapes (1 would mean everything else is free).
    pub ratio: f64,
}

/// Time `reps` SGD steps of `model` at `batch` on synthetic data (after warm-up) and the
/// same step's matrix products alone.
pub fn step(gpu: &Gpu, model: &Model, batch: usize, reps: usize) -> Result<StepRow> {
    let step_s = optimizer_step_ms(
        gpu,
        model,
        batch,
        reps,
        Default::default(),
        crate::train::Placement::Serial,
    )? / 1e3;
    let variant = gpu.matmul_variant()?;
    let (mut matmul_s, mut flops) = (0.0, 0.0);
    for (_, form, dims) in model.matmul_products(batch) {
        matmul_s += tuning::time_product(gpu, variant, form, dims, reps.clamp(1, 5))?;
        flops += dims.flops();
    }
    Ok(StepRow {
        adapter: gpu.adapter.short(),
        model: model.name.clone(),
        batch,
        step_ms: step_s * 1e3,
        examples_per_s: batch as f64 / step_s,
        matmul_ms: matmul_s * 1e3,
        gflop: flops / 1e9,
        ratio: matmul_s / step_s,
    })
}

/// Consecutive steps timed together in [`steps_side_by_side`].
pub const BURST: usize = 3;

/// Median milliseconds per step over `reps` bursts of [`BURST`] steps (after two warm-up
/// steps) of `optimizer` on `model` at `batch`, its two gradients placed as `placement` says,
/// on synthetic data: [`steps_side_by_side`] with one case.
pub fn optimizer_step_ms(
    gpu: &Gpu,
    model: &Model,
    batch: usize,
    reps: usize,
    optimizer: crate::train::OptimizerConfig,
    placement: crate::train::Placement,
) -> Result<f64> {
    Ok(steps_side_by_side(gpu, model, batch, reps, vec![(optimizer, placement)])?[0])
}

/// Median milliseconds of a step for each (optimizer, placement) case, measured side by side:
/// after two warm-up steps each, `reps` rounds that time a burst of [`BURST`] consecutive
/// steps of every case in turn, so a machine that slows down or speeds up during the run
/// affects every case alike and the ratios between them stay fair. A burst is timed until the
/// device is idle again; consecutive steps overlap as they do in training (the dual schedule
/// returns before its update finishes, and the next step's host work overlaps it).
pub fn steps_side_by_side(
    gpu: &Gpu,
    model: &Model,
    batch: usize,
    reps: usize,
    cases: Vec<(crate::train::OptimizerConfig, crate::train::Placement)>,
) -> Result<Vec<f64>> {
    let data = synthetic_batch(model, batch);
    let hyper = SgdHyper {
        lr: 1e-3,
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov: false,
    };
    let mut trainers = Vec::new();
    for (optimizer, placement) in cases {
        let mut t = Trainer::new(gpu, model, 0.0, &model.init(0), optimizer, 0)?;
        t.set_placement(gpu, placement)?;
        for _ in 0..2 {
            t.step(gpu, &data, hyper)?;
        }
        gpu.wait(None)?;
        trainers.push(t);
    }
    let mut times = vec![Vec::new(); trainers.len()];
    for _ in 0..reps {
        for (t, times) in trainers.iter_mut().zip(&mut times) {
            let start = Instant::now();
            for _ in 0..BURST {
                t.step(gpu, &data, hyper)?;
            }
            gpu.wait(None)?;
            times.push(start.elapsed().as_secs_f64() / BURST as f64);
        }
    }
    Ok(times.iter_mut().map(|t| tuning::median(t) * 1e3).collect())
}

/// A fixed random batch of `batch` examples for `model` (benchmarks need shapes, not data).
pub fn synthetic_batch(model: &Model, batch: usize) -> Batch {
    let mut rng = crate::rng::Pcg::new(1, 0);
    Batch {
        pixels: rng.vec(batch * model.input, 0.0, 1.0),
        labels: (0..batch)
            .map(|_| rng.below(model.classes as u32))
            .collect(),
    }
}
