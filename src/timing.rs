//! Timing helpers shared by the benchmarks and by the choices made by measurement (the kernel
//! forms per adapter in `tuning`, `auto`'s schedule in `run::placement`): medians, one
//! kernel's time, and training steps timed side by side.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::matmul::{self, Dims, Form, Variant};
use crate::kernels::sgd::SgdHyper;
use crate::kernels::{Dispatch, Kernels};
use crate::nn::Model;
use crate::optim::OptimizerConfig;
use crate::train::{Placement, Trainer};
use std::time::Instant;

/// Median of `xs` (sorted in place).
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        0.5 * (xs[n / 2 - 1] + xs[n / 2])
    }
}

/// Median seconds of one run of `d`, over `reps` timed runs after a warm-up. Each timed run
/// submits `d` enough times to last a few milliseconds, so submission overhead does not
/// dominate on fast GPUs.
pub fn time_dispatch(gpu: &Gpu, d: &Dispatch, reps: usize) -> Result<f64> {
    let warm = Instant::now();
    gpu.run(&[d])?;
    let once = warm.elapsed().as_secs_f64();
    let inner = ((0.005 / once.max(1e-6)) as usize).clamp(1, 64);
    let batch: Vec<&Dispatch> = std::iter::repeat_n(d, inner).collect();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        gpu.run(&batch)?;
        times.push(t.elapsed().as_secs_f64() / inner as f64);
    }
    Ok(median(&mut times))
}

/// Median seconds of one product with variant `v` on random operands (see [`time_dispatch`]).
pub fn time_product(gpu: &Gpu, v: Variant, form: Form, dims: Dims, reps: usize) -> Result<f64> {
    let mut rng = crate::rng::Pcg::new(17, 0);
    let (a_len, b_len) = (dims.m * dims.k, dims.k * dims.n);
    let a = gpu.upload(&rng.vec(a_len, -1.0, 1.0), "bench A")?;
    let b = gpu.upload(&rng.vec(b_len, -1.0, 1.0), "bench B")?;
    let c = gpu.zeros::<f32>(dims.m * dims.n, "bench C")?;
    let d = matmul::prepare(gpu, v, form, dims, a.view(), b.view(), c.view(), false)?;
    time_dispatch(gpu, &d, reps)
}

/// Consecutive steps timed together in [`steps_side_by_side`].
pub const BURST: usize = 3;

/// Median milliseconds of a step for each (optimizer, placement) case of `model` at `batch`
/// on synthetic data, measured side by side: after two warm-up steps each, `reps` rounds that
/// time a burst of [`BURST`] consecutive steps of every case in turn, so a machine that slows
/// down or speeds up during the run affects every case alike and the ratios between them stay
/// fair. A burst is timed until the device is idle again; consecutive steps overlap as they do
/// in training (the dual schedule returns before its update finishes, and the next step's host
/// work overlaps it).
pub fn steps_side_by_side(
    gpu: &Gpu,
    (model, kernels): (&Model, Kernels),
    batch: usize,
    reps: usize,
    cases: Vec<(OptimizerConfig, Placement)>,
) -> Result<Vec<f64>> {
    let data = model.synthetic_batch(batch);
    let mut trainers = Vec::new();
    for (optimizer, placement) in cases {
        let mut t = Trainer::seeded(gpu, (model, kernels), optimizer, placement)?;
        for _ in 0..2 {
            t.step(gpu, &data, SgdHyper::TIMED)?;
        }
        gpu.wait(None)?;
        trainers.push(t);
    }
    let mut times = vec![Vec::new(); trainers.len()];
    for _ in 0..reps {
        for (t, times) in trainers.iter_mut().zip(&mut times) {
            let start = Instant::now();
            for _ in 0..BURST {
                t.step(gpu, &data, SgdHyper::TIMED)?;
            }
            gpu.wait(None)?;
            times.push(start.elapsed().as_secs_f64() / BURST as f64);
        }
    }
    Ok(times.iter_mut().map(|t| median(t) * 1e3).collect())
}
