//! Cross-adapter benchmarks: the same kernels on every adapter, reported side by side.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::kernels::matmul::tile::Tile;
use crate::kernels::matmul::{Dims, Form, Variant};
use crate::nn::Model;
use crate::optim::OptimizerConfig;
use crate::timing;
use crate::train::Placement;
use crate::tuning::{self, MatmulChoice};
use serde::Serialize;
use std::collections::BTreeMap;

/// One measured product.
#[derive(Clone, Debug, Serialize)]
pub struct MatmulRow {
    /// `#i Backend Type "name"`.
    pub adapter: String,
    /// Backend name.
    pub backend: String,
    /// `reg`, `reg8`, `tiled` or `subgroup`.
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
    /// Where the tiled variant ran: the tile its search chose, and each tile's GFLOP/s on
    /// the tuning products.
    pub tiles: Option<(Tile, BTreeMap<String, f64>)>,
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
    let mut tiles = None;
    for &v in variants {
        if v == Variant::Tiled {
            // The tile search first, so the tiled rows below use the tile it chose.
            let (tile, rates) = tuning::search_tiles(gpu)?;
            crate::kernels::matmul::tile::choose(gpu, tile)?;
            tiles = Some((tile, rates));
        }
        for &s in sizes {
            let dims = Dims { m: s, n: s, k: s };
            let secs = timing::time_product(gpu, v, Form::AB, dims, reps)?;
            let r = row(v, "square", format!("{s}×{s}×{s} A·B"), dims, secs);
            progress(&r);
            rows.push(r);
        }
        let (mut flops, mut secs_total) = (0.0, 0.0);
        for (name, form, dims) in mlp_products() {
            let secs = timing::time_product(gpu, v, form, dims, reps)?;
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
    Ok(MatmulBench {
        rows,
        mlp_rates,
        tiles,
    })
}

/// Choose the variant with the best MLP-step rate and record it in the tuning cache with the
/// tile search's result (keeping the adapter's measured vector form).
pub fn record_choice(gpu: &Gpu, bench: &MatmulBench) -> Result<Option<MatmulChoice>> {
    let mlp_rates = &bench.mlp_rates;
    let Some(best) = mlp_rates.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
        return Ok(None);
    };
    let choice = MatmulChoice {
        variant: best.0.name().to_string(),
        gflops: mlp_rates
            .iter()
            .map(|(v, r)| (v.name().to_string(), *r))
            .collect(),
        workload: "all matmuls of one MLP 784-256-256-10 SGD step at batch 128 (sampa bench)"
            .to_string(),
        vectors: None,
        sampa: None,
        tile: bench.tiles.as_ref().map(|t| t.0.to_string()),
        tiles: bench
            .tiles
            .as_ref()
            .map(|t| t.1.clone())
            .unwrap_or_default(),
        classes: Default::default(),
        class_rates: Default::default(),
    };
    tuning::record_matmul(gpu, choice).map(Some)
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
    /// Milliseconds of the step's product kernels alone, with the variants the adapter's
    /// kernels choose per shape class: dense products with their operand staging, and convolutions' implicit GEMMs with their
    /// image staging, fused bias and split sums (see `nn::products`).
    pub matmul_ms: f64,
    /// GFLOP of the step's matrix products.
    pub gflop: f64,
    /// matmul_ms / step_ms: the step's FLOP rate as a fraction of the matmul benchmark's on
    /// the same shapes (1 would mean everything else is free).
    pub ratio: f64,
    /// What one step asks of the device.
    #[serde(flatten)]
    pub structure: Structure,
}

/// What one SGD training step asks of the device, counted over a few steps (see
/// [`crate::gpu::counters`]).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Structure {
    /// Kernel launches per step.
    pub dispatches: f64,
    /// Queue submissions per step.
    pub submissions: f64,
    /// Host waits per step that leave the device idle: those with nothing queued behind what
    /// they wait for. The step driver reads each step back after it has submitted the next,
    /// so in steady state only schedules that must wait inside a step (`dual`, the
    /// data-parallel sums) have any.
    pub blocking_waits: f64,
    /// Bytes read back per step.
    pub readback_bytes: f64,
    /// Floating-point operations of the step's launches (the products').
    pub flops: f64,
    /// The fewest workgroups of any launch carrying at least 1 % of the step's FLOPs: how
    /// widely the step's heaviest work spreads over a GPU's multiprocessors. None when no
    /// launch carries that much (a deep network's work is spread over hundreds of launches).
    pub heavy_min_workgroups: Option<u64>,
}

/// Count what `steps` SGD steps of `model` at `batch` ask of the device in steady state, per
/// step: after one step, the next `steps` submitted as training submits them (each reads the
/// one before it back), the last one read back outside the count.
pub fn structure(
    gpu: &Gpu,
    (model, kernels): (&Model, Kernels),
    batch: usize,
    steps: usize,
) -> Result<Structure> {
    use crate::gpu::counters;
    let serial = Placement::Serial;
    let mut trainer =
        crate::train::Trainer::seeded(gpu, (model, kernels), Default::default(), serial)?;
    let data = model.synthetic_batch(batch);
    let hyper = crate::kernels::sgd::SgdHyper::TIMED;
    trainer.submit(gpu, &data, hyper)?;
    let before = counters::now();
    let (done, launches) = counters::census(|| -> Result<()> {
        for _ in 0..steps {
            trainer.submit(gpu, &data, hyper)?;
        }
        Ok(())
    });
    done?;
    let c = counters::now() - before;
    trainer.finish(gpu)?;
    let per = |v: u64| v as f64 / steps as f64;
    let flops: f64 = launches.iter().map(|l| l.flops).sum::<f64>() / steps as f64;
    let heavy_min_workgroups = launches
        .iter()
        .filter(|l| l.flops > 0.0 && l.flops >= 0.01 * flops)
        .map(|l| l.workgroups)
        .min();
    Ok(Structure {
        dispatches: per(c.dispatches),
        submissions: per(c.submissions),
        blocking_waits: per(c.blocking_waits),
        readback_bytes: per(c.readback_bytes),
        flops,
        heavy_min_workgroups,
    })
}

/// Time `reps` SGD steps of `model` at `batch` on synthetic data (after warm-up) and the
/// same step's matrix products alone, with the kernel forms `kernels`.
pub fn step(
    gpu: &Gpu,
    (model, kernels): (&Model, Kernels),
    batch: usize,
    reps: usize,
) -> Result<StepRow> {
    let sgd = (OptimizerConfig::default(), Placement::Serial);
    let step_s =
        timing::steps_side_by_side(gpu, (model, kernels), batch, reps, vec![sgd])?[0] / 1e3;
    let (mut matmul_s, mut flops) = (0.0, 0.0);
    for (_, product) in model.step_products(batch, kernels) {
        matmul_s += timing::time_step_product(gpu, &product, reps.clamp(1, 5))?;
        flops += product.flops();
    }
    let structure = structure(gpu, (model, kernels), batch, 3)?;
    Ok(StepRow {
        structure,
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

/// Time each layer's forward and backward pass and the loss alone (each submitted and
/// waited for separately, median of `reps`), after loading `batch`. For finding where a
/// step's time goes; training records them all in one submission instead.
pub fn profile(
    e: &mut crate::nn::evaluator::Evaluator,
    gpu: &Gpu,
    batch: &crate::data::Batch,
    reps: usize,
) -> Result<Vec<(String, f64)>> {
    // What the evaluator runs for each model layer it produces (fused pairs by their own name).
    let fused = crate::nn::layer::fuse(&e.model().layers);
    let kind = |k: usize| {
        let layer = fused.iter().find(|f| f.1 == k).map(|f| f.0);
        layer.map_or_else(String::new, |l| format!("{l:?}"))
    };
    let plan = e.load(gpu, batch)?;
    let time = |d: &crate::kernels::Dispatch| -> Result<f64> {
        let mut t: Vec<f64> = (0..reps.max(1) + 1)
            .map(|_| {
                let s = std::time::Instant::now();
                gpu.run(&[d]).map(|_| s.elapsed().as_secs_f64())
            })
            .collect::<Result<_>>()?;
        t.remove(0);
        Ok(timing::median(&mut t))
    };
    let mut out = Vec::new();
    for (d, &k) in plan.forward.iter().zip(&plan.forward_layers) {
        out.push((format!("forward  {k:>2} {}", kind(k)), time(d)?));
    }
    out.push(("loss".to_string(), time(&plan.loss_with_grad)?));
    for (d, &k) in plan.backward.iter().zip(&plan.backward_layers) {
        out.push((format!("backward {k:>2} {}", kind(k)), time(d)?));
    }
    Ok(out)
}

/// The device memory one evaluator of `model` takes at `batch` examples: its parameters and
/// gradients, and the plan's activations, gradients, images and scratch, as the backend's
/// allocator counts them (`None` where it does not report, as on GL and in the browser).
pub fn evaluator_bytes(
    gpu: &Gpu,
    (model, kernels): (&Model, Kernels),
    batch: usize,
) -> Result<Option<u64>> {
    let Some(before) = gpu.allocated_bytes() else {
        return Ok(None);
    };
    let x = model.init(0);
    let params = gpu.upload(&x, "params")?;
    let grads = gpu.zeros::<f32>(x.len(), "grads")?;
    let mut ev =
        crate::nn::evaluator::Evaluator::new(model.clone(), 0.0, kernels, &params, &grads)?;
    ev.evaluate(gpu, &model.synthetic_batch(batch))?;
    Ok(gpu
        .allocated_bytes()
        .map(|after| after.saturating_sub(before)))
}
