//! Time to accuracy, in the spirit of MLPerf Training: the wall time for the MLP
//! 784-256-256-10 to reach 80 % test accuracy on the embedded Fashion-MNIST subset (6,000
//! training and 1,000 test images), per optimizer, with `sampa train`'s defaults (batch 128,
//! lr 0.05, momentum 0.9, weight decay 5e-4, seed 0). The test set is evaluated every quarter
//! epoch; the time counts training and those evaluations, from a prepared trainer.

use super::cases::template;
use super::schema::BenchResult;
use super::stats::Stats;
use crate::data::{Batch, BatchOptions, Batcher, Splits};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::nn::Model;
use crate::optim::{OptimizerConfig, OptimizerKind};
use crate::train::{Placement, Trainer};
use std::time::Instant;

/// The target test accuracy.
pub const TARGET: f64 = 0.80;

/// The optimizers timed.
pub const OPTIMIZERS: [(&str, OptimizerKind); 3] = [
    ("SGD", OptimizerKind::Sgd),
    ("SAM", OptimizerKind::Sam),
    ("SAMPa-0.2", OptimizerKind::Sampa),
];

/// The results this part will fill in on adapter `adapter`, one per optimizer.
pub fn templates(adapter: usize) -> Vec<BenchResult> {
    OPTIMIZERS
        .iter()
        .map(|(label, _)| {
            let case = format!("mlp to {:.0}% test accuracy, {label}", TARGET * 100.0);
            let mut t = template("time_to_accuracy", &case, adapter, "s");
            t.timing = "wall".to_string();
            t.params.insert("optimizer".into(), label.to_string());
            t.params.insert("target".into(), TARGET.to_string());
            t
        })
        .collect()
}

/// Time each optimizer to [`TARGET`] on `gpu`, for at most `max_epochs` epochs; `progress`
/// hears each finished run. A run that does not get there records the best accuracy it had.
pub fn run(
    gpu: &Gpu,
    kernels: Kernels,
    max_epochs: usize,
    mut progress: impl FnMut(&str),
) -> Vec<BenchResult> {
    let mut out = Vec::new();
    let splits = crate::data::load(
        &crate::data::Source::Embedded,
        crate::data::LoadOptions::sized(None),
    );
    for ((_, kind), mut t) in OPTIMIZERS.into_iter().zip(templates(gpu.adapter.index)) {
        let case = t.case.clone();
        let r = splits
            .as_ref()
            .map_err(|e| e.to_string())
            .and_then(|s| to_target(gpu, kernels, s, kind, max_epochs).map_err(|e| e.to_string()));
        match r {
            Ok(Reached {
                seconds,
                steps,
                accuracy: Ok(acc),
            }) => {
                t.host = Stats::of(&[seconds]);
                t.extra.insert("steps".into(), steps as f64);
                t.extra.insert("test_accuracy".into(), acc);
            }
            Ok(Reached {
                accuracy: Err(best),
                ..
            }) => {
                t.error = Some(format!(
                    "did not reach {:.0}% in {max_epochs} epochs (best {:.1}%)",
                    TARGET * 100.0,
                    best * 100.0
                ));
            }
            Err(e) => t.error = Some(e),
        }
        progress(&case);
        out.push(t);
    }
    out
}

/// How a run ended: the accuracy at the target, or the best short of it.
struct Reached {
    seconds: f64,
    steps: usize,
    accuracy: std::result::Result<f64, f64>,
}

fn to_target(
    gpu: &Gpu,
    kernels: Kernels,
    splits: &Splits,
    kind: OptimizerKind,
    max_epochs: usize,
) -> Result<Reached> {
    let s = splits.train.shape;
    let model = Model::mlp(s.len(), &[256, 256], splits.classes)?;
    let optimizer = OptimizerConfig {
        kind,
        lambda: 0.2,
        ..Default::default()
    };
    let mut trainer = Trainer::seeded(gpu, (&model, kernels), optimizer, Placement::Serial)?;
    let opts = BatchOptions {
        batch: 128,
        shuffle: true,
        seed: 0,
        normalize: None,
        augment: false,
        cutout: false,
        imagenet: false,
    };
    let hyper = crate::kernels::sgd::SgdHyper {
        lr: 0.05,
        ..crate::kernels::sgd::SgdHyper::TIMED
    };
    let start = Instant::now();
    let (mut steps, mut best) = (0, 0.0f64);
    let mut batch = Batch::default();
    for epoch in 0..max_epochs {
        let mut batches = Batcher::new(&splits.train, opts.clone(), epoch as u64);
        let every = batches.batches().div_ceil(4).max(1);
        let mut i = 0;
        while batches.next_into(&mut batch)? {
            trainer.step(gpu, &batch, hyper)?;
            (steps, i) = (steps + 1, i + 1);
            if i % every == 0 || i == batches.batches() {
                let acc = crate::run::evaluate(gpu, &mut trainer, &splits.test, &opts)?.accuracy;
                best = best.max(acc);
                if acc >= TARGET {
                    let seconds = start.elapsed().as_secs_f64();
                    return Ok(Reached {
                        seconds,
                        steps,
                        accuracy: Ok(acc),
                    });
                }
            }
        }
    }
    Ok(Reached {
        seconds: start.elapsed().as_secs_f64(),
        steps,
        accuracy: Err(best),
    })
}
