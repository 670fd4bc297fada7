//! Training steps timed side by side, as a future so that the browser can measure too (its
//! `auto` schedule is chosen this way on the page; natively `crate::timing` blocks on it).

use crate::clock::{median, now};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::kernels::sgd::SgdHyper;
use crate::nn::Model;
use crate::optim::OptimizerConfig;
use crate::train::{Placement, Trainer};

/// Consecutive steps timed together in [`steps_side_by_side`].
pub const BURST: usize = 3;

/// Median milliseconds of a step for each (optimizer, placement) case of `model` at `batch`
/// on synthetic data, measured side by side: after two warm-up steps each, `reps` rounds that
/// time a burst of [`BURST`] consecutive steps of every case in turn, so a machine that slows
/// down or speeds up during the run affects every case alike and the ratios between them stay
/// fair. A burst is timed until the device is idle again; consecutive steps overlap as they do
/// in training (the dual schedule returns before its update finishes, and the next step's host
/// work overlaps it).
pub async fn steps_side_by_side(
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
            t.step_async(gpu, &data, SgdHyper::TIMED).await?;
        }
        gpu.idle().await?;
        trainers.push(t);
    }
    let mut times = vec![Vec::new(); trainers.len()];
    for _ in 0..reps {
        for (t, times) in trainers.iter_mut().zip(&mut times) {
            let start = now();
            for _ in 0..BURST {
                t.step_async(gpu, &data, SgdHyper::TIMED).await?;
            }
            gpu.idle().await?;
            times.push((now() - start) / BURST as f64);
        }
    }
    Ok(times.iter_mut().map(|t| median(t) * 1e3).collect())
}
