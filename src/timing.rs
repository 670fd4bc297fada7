//! Timing helpers shared by the benchmarks and by the choices made by measurement (the kernel
//! forms per adapter in `tuning`, `auto`'s schedule in `run::placement`): medians, one
//! kernel's time, and training steps timed side by side (blocking; the browser awaits
//! [`crate::train::timed`] itself).

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::matmul::{self, Dims, Form, Variant};
use crate::kernels::{Dispatch, Kernels};
use crate::nn::Model;
use crate::optim::OptimizerConfig;
use crate::train::Placement;
use std::time::Instant;

pub use crate::clock::median;

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

pub use crate::train::timed::BURST;

/// Blocking [`crate::train::timed::steps_side_by_side`].
pub fn steps_side_by_side(
    gpu: &Gpu,
    (model, kernels): (&Model, Kernels),
    batch: usize,
    reps: usize,
    cases: Vec<(OptimizerConfig, Placement)>,
) -> Result<Vec<f64>> {
    gpu.block_on(crate::train::timed::steps_side_by_side(
        gpu,
        (model, kernels),
        batch,
        reps,
        cases,
    ))
}
