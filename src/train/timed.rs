//! Training steps timed side by side, as a future so that the browser can measure too (its
//! `auto` schedule is chosen this way on the page; natively `crate::timing` blocks on it).

use crate::clock::{median, now};
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::{Gpu, Timer};
use crate::kernels::Kernels;
use crate::nn::Model;
use crate::optim::{BaseHyper, OptimizerConfig};
use crate::train::{Placement, Trainer};

/// Consecutive steps timed together in [`steps_side_by_side`].
pub const BURST: usize = 3;

/// Median milliseconds of a step for each (optimizer, placement) case of `model` at `batch`
/// on synthetic data, measured side by side: after two warm-up steps each, `reps` rounds that
/// time a burst of [`BURST`] consecutive steps of every case in turn, so a machine that slows
/// down or speeds up during the run affects every case alike and the ratios between them stay
/// fair. A burst is timed until the device is idle again; consecutive steps overlap as they do
/// in training (each step is submitted before the one before it is read back).
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
            t.step_async(gpu, &data, BaseHyper::timed(optimizer.base))
                .await?;
        }
        gpu.idle().await?;
        trainers.push(t);
    }
    let mut times = vec![Vec::new(); trainers.len()];
    for _ in 0..reps {
        for (t, times) in trainers.iter_mut().zip(&mut times) {
            let hyper = BaseHyper::timed(t.spec().optimizer.base);
            let (host, _) = steps_burst(gpu, None, t, &data, (hyper, BURST)).await?;
            times.push(host);
        }
    }
    Ok(times.iter_mut().map(|t| median(t) * 1e3).collect())
}

/// A burst of `burst` consecutive steps of `trainer` on `batch` with `hyper`, pipelined as
/// training runs them: seconds per step of host time until the device is idle again, and of
/// device time where there is a timer. The timestamps go in submissions of their own before
/// and after the burst: the queue runs submissions in order, so the pair brackets the steps'
/// device work (and any gap the host leaves between their submissions).
pub async fn steps_burst(
    gpu: &Gpu,
    timer: Option<&Timer>,
    trainer: &mut Trainer,
    batch: &Batch,
    (hyper, burst): (BaseHyper, usize),
) -> Result<(f64, Option<f64>)> {
    let mark = |begin: bool| {
        timer.map(|t| {
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            match begin {
                true => t.begin(&mut encoder),
                false => t.end(&mut encoder),
            }
            gpu.submit(encoder.finish())
        })
    };
    let start = now();
    mark(true);
    for _ in 0..burst {
        trainer.submit_async(gpu, batch, hyper).await?;
    }
    let end = mark(false);
    trainer.finish_async().await?;
    gpu.idle().await?;
    let host = (now() - start) / burst as f64;
    let device = match (timer, end) {
        (Some(t), Some(index)) => Some(t.seconds(index).await? / burst as f64),
        _ => None,
    };
    Ok((host, device))
}
