//! A trainer beside the f64 reference of its optimizer, step by step on the same batches:
//! the check the optimizer tests make natively and in the browser.

use super::recorder::TrainerSpec;
use super::trainer::Trainer;
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::sgd::SgdHyper;
use crate::optim::BaseHyper;
use crate::optim::reference::RefOptimizer;

/// How far a GPU run strayed from the f64 reference.
#[derive(Clone, Copy, Debug)]
pub struct Parity {
    /// max |x_gpu − x_f64| / max |x_f64| after the last step.
    pub params: f64,
    /// The largest relative difference of a step's reported loss.
    pub loss: f64,
    /// The largest change of any parameter from the start (a run that never moved proves
    /// nothing).
    pub moved: f64,
    /// The steps whose gradient the reference's clip scaled down (`--clip-norm`).
    pub clipped: usize,
}

/// Run `spec`'s optimizer from `x0` on `batches`, step t with `hyper(t)`, on `gpu` and in f64;
/// the run's length is the batches'.
pub async fn parity<H: Into<BaseHyper>>(
    gpu: &Gpu,
    spec: TrainerSpec,
    x0: &[f32],
    batches: &[Batch],
    hyper: impl Fn(usize) -> H,
) -> Result<Parity> {
    let hyper = |t| hyper(t).into();
    let (model, smoothing) = (spec.model.clone(), spec.smoothing as f64);
    let mut reference = RefOptimizer::new(spec.optimizer, x0, spec.seed);
    let mut trainer = Trainer::new(gpu, spec, x0)?;
    // The run is these batches (AE-SAM's c_t moves over it).
    reference.run_steps = Some(batches.len());
    trainer.set_run_steps(batches.len());
    let mut loss: f64 = 0.0;
    for (t, b) in batches.iter().enumerate() {
        let got = trainer.step_async(gpu, b, hyper(t)).await?;
        let want = reference.step(&model, smoothing, b, hyper(t));
        loss = loss.max((got[0] as f64 - want).abs() / want.abs());
    }
    let clipped = reference.clipped;
    let got = gpu.read_async(trainer.params()).await?;
    let scale = reference.x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let max_diff = |a: &[f32], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(&g, &w)| (g as f64 - w).abs())
            .fold(0.0f64, f64::max)
    };
    let x0_64: Vec<f64> = x0.iter().map(|&v| v as f64).collect();
    Ok(Parity {
        params: max_diff(&got, &reference.x) / scale,
        loss,
        moved: max_diff(&got, &x0_64),
        clipped,
    })
}

/// The parity tests' batches for `model`: `steps` random batches of 16, with a short one of 5
/// every seventh step, as an epoch's last batch (SAMPa and SAM-db then take their
/// previous-batch gradient on a batch of another size).
pub fn batches(model: &crate::nn::Model, steps: usize) -> Vec<Batch> {
    let mut rng = crate::rng::Pcg::new(21, 0);
    (0..steps)
        .map(|t| {
            let n = if t % 7 == 6 { 5 } else { 16 };
            Batch {
                pixels: rng.vec(n * model.input, 0.0, 1.0),
                labels: (0..n).map(|_| rng.below(model.classes as u32)).collect(),
                drawn: Vec::new(),
            }
        })
        .collect()
}

/// The parity tests' hyper-parameters of step `t`: the learning rate drops every fifth step,
/// as a schedule does at an epoch's end, so SAMPa's trainer both reuses the look-ahead its
/// last update wrote (same rate) and recomputes it (new rate).
pub fn hyper(nesterov: bool, t: usize) -> SgdHyper {
    SgdHyper {
        lr: 0.1 * 0.7f32.powi((t / 5) as i32),
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov,
    }
}
