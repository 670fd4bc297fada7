//! `sampa train`: the training loop and everything a run writes.
//!
//! One step is one submission: upload the batch, record the evaluator's forward, loss and
//! backward, the optimizer step and a copy of the two metric scalars, submit, and read those
//! two scalars back. Nothing else crosses to the host until the epoch's test evaluation.
//!
//! A run directory receives `config.json` (every setting), `metrics.jsonl` (one record per
//! epoch, plus one per step with `log_every`), `curves.png` and `model.safetensors`; each is
//! rewritten atomically after every epoch, so an interrupted or diverged run leaves the last
//! good state behind.

pub mod checkpoint;
pub mod config;
pub mod plot;
mod trainer;

pub use config::{LrSchedule, TrainConfig};
pub use plot::EpochPoint;
pub use trainer::Trainer;

use crate::data::{self, Batch, BatchOptions, Batcher, FolderOptions, Source, Splits};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::sgd::SgdHyper;
use crate::nn::Model;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Per-epoch points (as in metrics.jsonl).
    pub epochs: Vec<EpochPoint>,
    /// Optimizer steps taken.
    pub steps: usize,
    /// The trained parameters.
    pub params: Vec<f32>,
    /// Wall-clock seconds of training and evaluation.
    pub seconds: f64,
}

/// Check settings that clap cannot, naming the flag.
pub fn validate(c: &TrainConfig) -> Result<()> {
    let bad = |flag: &str, want: &str, got: String| {
        Err(Error::Invalid(format!("{flag} must be {want}, got {got}")))
    };
    if c.batch == 0 {
        return bad("--batch", "at least 1", "0".into());
    }
    if c.epochs == 0 {
        return bad("--epochs", "at least 1", "0".into());
    }
    if c.steps == Some(0) {
        return bad("--steps", "at least 1", "0".into());
    }
    if c.train_limit == Some(0) {
        return bad("--train-limit", "at least 1", "0".into());
    }
    if !(c.lr.is_finite() && c.lr > 0.0) {
        return bad("--lr", "a positive number", c.lr.to_string());
    }
    if !(c.momentum.is_finite() && (0.0..1.0).contains(&c.momentum)) {
        return bad("--momentum", "in [0, 1)", c.momentum.to_string());
    }
    if !(c.weight_decay.is_finite() && c.weight_decay >= 0.0) {
        return bad("--wd", "a non-negative number", c.weight_decay.to_string());
    }
    if !(0.0..1.0).contains(&c.label_smoothing) {
        return bad(
            "--label-smoothing",
            "in [0, 1)",
            c.label_smoothing.to_string(),
        );
    }
    if c.log_every == Some(0) {
        return bad("--log-every", "at least 1", "0".into());
    }
    if c.model != "mlp" && c.model != "cnn" {
        return bad("--model", "mlp or cnn", format!("{:?}", c.model));
    }
    Ok(())
}

/// Load the data a config names (`embedded`, or a directory).
pub fn load_data(c: &TrainConfig) -> Result<Splits> {
    let source = if c.data == "embedded" {
        Source::Embedded
    } else {
        Source::Dir(c.data.clone().into())
    };
    let mut splits = data::load(&source, FolderOptions { size: c.image_size })?;
    if let Some(n) = c.train_limit {
        splits.train.truncate(n);
    }
    Ok(splits)
}

/// Train as `config` says on `gpu`, printing progress, and write the run directory.
pub fn run(gpu: &Gpu, config: &TrainConfig, splits: &Splits) -> Result<RunSummary> {
    validate(config)?;
    let out = &config.out;
    std::fs::create_dir_all(out)
        .map_err(|e| Error::data(out, format!("cannot create the output directory: {e}")))?;
    let config_json = serde_json::to_string_pretty(config).expect("config serialises");
    write(out, "config.json", config_json.as_bytes())?;

    let s = splits.train.shape;
    let model = match config.model.as_str() {
        "cnn" => Model::cnn(s.channels, s.height, s.width, splits.classes)?,
        _ => Model::mlp(s.len(), &config.hidden, splits.classes)?,
    };
    let x0 = match &config.init {
        Some(path) => checkpoint::load(&model, path)?,
        None => model.init(config.seed),
    };
    println!(
        "model: {} ({} parameters) on {}",
        model.name,
        model.param_count(),
        gpu.adapter.short()
    );
    let mut trainer = Trainer::new(gpu, &model, config.label_smoothing, &x0)?;
    let normalize = config.normalize.then(|| data::channel_stats(&splits.train));
    let batch_opts = |shuffle, augment| BatchOptions {
        batch: config.batch,
        shuffle,
        seed: config.seed,
        normalize: normalize.clone(),
        augment,
    };

    let started = Instant::now();
    let mut records = Vec::new();
    let mut points = Vec::new();
    let mut step = 0;
    let mut batch = Batch::default();
    for epoch in 0..config.epochs {
        let lr = config.lr_schedule.rate(config.lr, epoch, config.epochs);
        let hyper = SgdHyper {
            lr,
            momentum: config.momentum,
            weight_decay: config.weight_decay,
            nesterov: config.nesterov,
        };
        let mut batches = Batcher::new(
            &splits.train,
            batch_opts(config.shuffle, config.augment),
            epoch as u64,
        );
        let bar = progress_bar(epoch, config.epochs, batches.batches());
        let epoch_start = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        while batches.next_into(&mut batch) {
            let m = trainer.step(gpu, &batch, hyper)?;
            step = trainer.steps();
            if !m[0].is_finite() {
                bar.abandon();
                return Err(Error::Invalid(format!(
                    "the training loss became {} at step {step} (epoch {}); stopped. {} holds the \
                     last good parameters; try a smaller --lr",
                    m[0],
                    epoch + 1,
                    if points.is_empty() {
                        "no model.safetensors".to_string()
                    } else {
                        out.join("model.safetensors").display().to_string()
                    }
                )));
            }
            let n = batch.len();
            loss_sum += m[0] as f64 * n as f64;
            correct += m[1] as usize;
            seen += n;
            if let Some(every) = config.log_every
                && step.is_multiple_of(every)
            {
                records.push(json!({"kind": "step", "step": step, "epoch": epoch + 1, "loss": m[0], "accuracy": m[1] as f64 / n as f64, "lr": lr}));
            }
            let secs = epoch_start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.4} acc {:.2}% {:.0} ex/s",
                loss_sum / seen as f64,
                100.0 * correct as f64 / seen as f64,
                seen as f64 / secs
            ));
            bar.inc(1);
            if config.steps.is_some_and(|s| step >= s) {
                break;
            }
        }
        bar.finish();
        let seconds = epoch_start.elapsed().as_secs_f64();
        let stats = EpochStats {
            epoch,
            lr,
            loss_sum,
            correct,
            seen,
            step,
            seconds,
        };
        let test_opts = batch_opts(false, false);
        finish_epoch(
            gpu,
            &mut trainer,
            splits,
            &test_opts,
            stats,
            &mut points,
            &mut records,
        )?;
        save_outputs(gpu, &model, trainer.params(), &points, &records, out)?;
        if config.steps.is_some_and(|s| step >= s) {
            break;
        }
    }
    let final_params = gpu.read(trainer.params())?;
    Ok(RunSummary {
        epochs: points,
        steps: step,
        params: final_params,
        seconds: started.elapsed().as_secs_f64(),
    })
}

struct EpochStats {
    epoch: usize,
    lr: f32,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    step: usize,
    seconds: f64,
}

fn progress_bar(epoch: usize, epochs: usize, batches: usize) -> ProgressBar {
    let bar = ProgressBar::new(batches as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
    bar
}

/// Evaluate on the test set, print the epoch's summary line and record it.
fn finish_epoch(
    gpu: &Gpu,
    trainer: &mut Trainer,
    splits: &Splits,
    opts: &BatchOptions,
    s: EpochStats,
    points: &mut Vec<EpochPoint>,
    records: &mut Vec<serde_json::Value>,
) -> Result<()> {
    let (test_loss, test_acc) = test(gpu, trainer, &splits.test, opts)?;
    let point = EpochPoint {
        epoch: s.epoch + 1,
        train_loss: s.loss_sum / s.seen.max(1) as f64,
        train_acc: s.correct as f64 / s.seen.max(1) as f64,
        test_loss,
        test_acc,
    };
    println!(
        "epoch {:>3}  train loss {:.4}  test loss {:.4}  test acc {:.2}%  {:.1} s  grad evals {} (sequential {})",
        point.epoch,
        point.train_loss,
        point.test_loss,
        100.0 * point.test_acc,
        s.seconds,
        s.step,
        s.step
    );
    records.push(json!({
        "kind": "epoch", "epoch": point.epoch, "train_loss": point.train_loss, "train_accuracy": point.train_acc,
        "test_loss": point.test_loss, "test_accuracy": point.test_acc, "seconds": s.seconds, "lr": s.lr,
        "steps": s.step, "grad_evals": s.step, "sequential_grad_evals": s.step,
    }));
    points.push(point);
    Ok(())
}

/// Mean loss and accuracy over `data` at the current parameters.
pub fn test(
    gpu: &Gpu,
    trainer: &mut Trainer,
    data: &data::Dataset,
    opts: &BatchOptions,
) -> Result<(f64, f64)> {
    let mut batches = Batcher::new(data, opts.clone(), 0);
    let mut batch = Batch::default();
    let (mut loss, mut correct) = (0.0f64, 0usize);
    while batches.next_into(&mut batch) {
        let m = trainer.loss(gpu, &batch)?;
        loss += m[0] as f64 * batch.len() as f64;
        correct += m[1] as usize;
    }
    let n = data.len().max(1) as f64;
    Ok((loss / n, correct as f64 / n))
}

fn save_outputs(
    gpu: &Gpu,
    model: &Model,
    params: &crate::gpu::GpuBuf<f32>,
    points: &[EpochPoint],
    records: &[serde_json::Value],
    out: &Path,
) -> Result<()> {
    checkpoint::save(model, &gpu.read(params)?, &out.join("model.safetensors"))?;
    let lines: String = records.iter().map(|r| format!("{r}\n")).collect();
    write(out, "metrics.jsonl", lines.as_bytes())?;
    plot::curves(points, &model.name, &out.join("curves.png"))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    crate::fsutil::write_atomic(&path, bytes)
        .map_err(|e| Error::data(&path, format!("cannot write: {e}")))
}
