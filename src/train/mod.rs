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
pub mod fused;
pub mod optimizer;
pub mod plot;
pub mod reference;
pub mod schedule;
mod trainer;
pub mod worker;

pub use config::{LrSchedule, TrainConfig};
pub use optimizer::{LookaheadMode, OptimizerConfig, OptimizerKind};
pub use plot::EpochPoint;
pub use schedule::{Placement, Schedule};
pub use trainer::{NOISE_STREAM, Trainer, TrainerState};

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
    if c.checkpoint_every == Some(0) {
        return bad("--checkpoint-every", "at least 1", "0".into());
    }
    c.optimizer.validate()?;
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
    train(gpu, config, splits, false)
}

/// Continue the run in `config.out` from its `checkpoint.safetensors`, exactly where it
/// stopped, until `config`'s epochs or steps are done.
pub fn resume(gpu: &Gpu, config: &TrainConfig, splits: &Splits) -> Result<RunSummary> {
    train(gpu, config, splits, true)
}

/// The name of a run's checkpoint file.
pub const CHECKPOINT: &str = "checkpoint.safetensors";

fn build_model(config: &TrainConfig, splits: &Splits) -> Result<Model> {
    let s = splits.train.shape;
    match config.model.as_str() {
        "cnn" => Model::cnn(s.channels, s.height, s.width, splits.classes),
        _ => Model::mlp(s.len(), &config.hidden, splits.classes),
    }
}

fn train(gpu: &Gpu, config: &TrainConfig, splits: &Splits, resuming: bool) -> Result<RunSummary> {
    validate(config)?;
    let out = &config.out;
    std::fs::create_dir_all(out)
        .map_err(|e| Error::data(out, format!("cannot create the output directory: {e}")))?;
    let model = build_model(config, splits)?;
    let x0 = match &config.init {
        Some(path) if !resuming => checkpoint::load(&model, path)?,
        _ => model.init(config.seed),
    };
    let mut trainer = Trainer::new(
        gpu,
        &model,
        config.label_smoothing,
        &x0,
        config.optimizer,
        config.seed,
    )?;
    let placement = schedule::resolve(
        gpu,
        config.schedule,
        config.adapter2.as_deref(),
        &model,
        &config.optimizer,
        config.label_smoothing,
        config.batch,
    )?;
    trainer.set_placement(gpu, placement)?;
    let mut run = RunState::default();
    if resuming {
        let (state, progress) = checkpoint::load_checkpoint(&model, &out.join(CHECKPOINT))?;
        trainer.restore(gpu, &state)?;
        (run.records, run.points) =
            read_metrics(&out.join("metrics.jsonl"), state.steps, progress.epoch)?;
        run.progress = Some(progress);
        println!(
            "resuming {} at step {} (epoch {})",
            out.display(),
            state.steps,
            run.progress.as_ref().map_or(0, |p| p.epoch) + 1
        );
    }
    let config_json = serde_json::to_string_pretty(config).expect("config serialises");
    write(out, "config.json", config_json.as_bytes())?;
    let opt = config.optimizer;
    println!(
        "model: {} ({} parameters) on {}; optimizer {}: gradients per step {}, in sequence {}; schedule {}",
        model.name,
        model.param_count(),
        gpu.adapter.short(),
        opt.label(),
        opt.grads_per_step(),
        opt.depth(),
        trainer.placement().name()
    );
    let normalize = config.normalize.then(|| data::channel_stats(&splits.train));
    let batch_opts = |shuffle, augment| BatchOptions {
        batch: config.batch,
        shuffle,
        seed: config.seed,
        normalize: normalize.clone(),
        augment,
    };
    let train_opts = batch_opts(config.shuffle, config.augment);

    let started = Instant::now();
    let mut batch = Batch::default();
    let first_epoch = run.progress.as_ref().map_or(0, |p| p.epoch);
    let done = |steps: usize| config.steps.is_some_and(|s| steps >= s);
    for epoch in first_epoch..config.epochs {
        if done(trainer.steps()) {
            break;
        }
        let lr = config.lr_schedule.rate(config.lr, epoch, config.epochs);
        let hyper = SgdHyper {
            lr,
            momentum: config.momentum,
            weight_decay: config.weight_decay,
            nesterov: config.nesterov,
        };
        let resumed = run.progress.take().filter(|p| p.epoch == epoch);
        let mut batches = match &resumed {
            Some(p) => {
                let b = Batcher::resume(
                    &splits.train,
                    train_opts.clone(),
                    epoch as u64,
                    p.position,
                    p.augment_rng,
                );
                if b.order() != p.order.as_slice() {
                    return Err(Error::data(
                        out.join(CHECKPOINT),
                        "was written for different training data (its shuffle order does not \
                         match); resume with the run's original data and --train-limit",
                    ));
                }
                b
            }
            None => Batcher::new(&splits.train, train_opts.clone(), epoch as u64),
        };
        let bar = progress_bar(epoch, config.epochs, batches.batches());
        let (mut stats, earlier) = match &resumed {
            Some(p) => {
                bar.set_position(p.position.div_ceil(config.batch) as u64);
                let s = EpochStats {
                    epoch,
                    lr,
                    loss_sum: p.loss_sum,
                    correct: p.correct,
                    seen: p.seen,
                    step: trainer.steps(),
                    seconds: 0.0,
                };
                (s, p.seconds)
            }
            None => (EpochStats::new(epoch, lr), 0.0),
        };
        let epoch_start = Instant::now();
        while batches.next_into(&mut batch) {
            let m = trainer.step(gpu, &batch, hyper)?;
            let step = trainer.steps();
            if !m[0].is_finite() {
                bar.abandon();
                return Err(Error::Invalid(format!(
                    "the training loss became {} at step {step} (epoch {}); stopped. {} holds the \
                     last good parameters; try a smaller --lr",
                    m[0],
                    epoch + 1,
                    if run.points.is_empty() {
                        "no model.safetensors".to_string()
                    } else {
                        out.join("model.safetensors").display().to_string()
                    }
                )));
            }
            let n = batch.len();
            stats.loss_sum += m[0] as f64 * n as f64;
            stats.correct += m[1] as usize;
            stats.seen += n;
            stats.step = step;
            if let Some(every) = config.log_every
                && step.is_multiple_of(every)
            {
                run.records.push(json!({"kind": "step", "step": step, "epoch": epoch + 1, "loss": m[0], "accuracy": m[1] as f64 / n as f64, "lr": lr}));
            }
            let secs = epoch_start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.4} acc {:.2}% {:.0} ex/s",
                stats.loss_sum / stats.seen as f64,
                100.0 * stats.correct as f64 / stats.seen as f64,
                stats.seen as f64 / (earlier + secs)
            ));
            bar.inc(1);
            if config
                .checkpoint_every
                .is_some_and(|k| step.is_multiple_of(k))
            {
                let seconds = earlier + epoch_start.elapsed().as_secs_f64();
                let progress = progress_within(&batches, &stats, seconds);
                let state = trainer.state(gpu)?;
                checkpoint::save_checkpoint(&model, &state, &progress, &out.join(CHECKPOINT))?;
            }
            if done(step) {
                break;
            }
        }
        bar.finish();
        stats.seconds = earlier + epoch_start.elapsed().as_secs_f64();
        // A finished epoch checkpoints as the start of the next one; a run stopped by --steps
        // inside an epoch checkpoints where it stopped, and a resumed run redoes that epoch's
        // summary at its end.
        let progress = if batches.position().0 >= splits.train.len() {
            let next = Batcher::new(&splits.train, train_opts.clone(), epoch as u64 + 1);
            progress_within(&next, &EpochStats::new(epoch + 1, lr), 0.0)
        } else {
            progress_within(&batches, &stats, stats.seconds)
        };
        let test_opts = batch_opts(false, false);
        finish_epoch(gpu, &mut trainer, splits, &test_opts, stats, &mut run)?;
        save_outputs(gpu, &model, trainer.params(), &run, out)?;
        let state = trainer.state(gpu)?;
        checkpoint::save_checkpoint(&model, &state, &progress, &out.join(CHECKPOINT))?;
    }
    let final_params = gpu.read(trainer.params())?;
    Ok(RunSummary {
        epochs: run.points,
        steps: trainer.steps(),
        params: final_params,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[derive(Default)]
struct RunState {
    records: Vec<serde_json::Value>,
    points: Vec<EpochPoint>,
    progress: Option<checkpoint::Progress>,
}

/// The records and epoch points of `metrics.jsonl` that a checkpoint at `steps`, in 0-based
/// epoch `epoch`, has behind it (later lines came after the checkpoint and will be redone).
fn read_metrics(
    path: &Path,
    steps: usize,
    epoch: usize,
) -> Result<(Vec<serde_json::Value>, Vec<EpochPoint>)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::data(path, format!("cannot read: {e}"))),
    };
    let (mut records, mut points) = (Vec::new(), Vec::new());
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let r: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::data(path, format!("line {} is not JSON ({e})", i + 1)))?;
        let num = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        let keep = match r["kind"].as_str() {
            Some("step") => num("step") <= steps as f64,
            Some("epoch") => num("epoch") <= epoch as f64,
            _ => false,
        };
        if !keep {
            continue;
        }
        if r["kind"] == "epoch" {
            points.push(EpochPoint {
                epoch: num("epoch") as usize,
                train_loss: num("train_loss"),
                train_acc: num("train_accuracy"),
                test_loss: num("test_loss"),
                test_acc: num("test_accuracy"),
            });
        }
        records.push(r);
    }
    Ok((records, points))
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

/// Where a run stands in `stats.epoch`, whose batches are `batches`, after `seconds` in it.
fn progress_within(batches: &Batcher, stats: &EpochStats, seconds: f64) -> checkpoint::Progress {
    let (position, augment_rng) = batches.position();
    checkpoint::Progress {
        epoch: stats.epoch,
        position,
        order: batches.order().to_vec(),
        augment_rng,
        loss_sum: stats.loss_sum,
        correct: stats.correct,
        seen: stats.seen,
        seconds,
    }
}

impl EpochStats {
    fn new(epoch: usize, lr: f32) -> Self {
        EpochStats {
            epoch,
            lr,
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            step: 0,
            seconds: 0.0,
        }
    }
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
    run: &mut RunState,
) -> Result<()> {
    let (test_loss, test_acc) = test(gpu, trainer, &splits.test, opts)?;
    let point = EpochPoint {
        epoch: s.epoch + 1,
        train_loss: s.loss_sum / s.seen.max(1) as f64,
        train_acc: s.correct as f64 / s.seen.max(1) as f64,
        test_loss,
        test_acc,
    };
    let opt = trainer.config();
    let (evals, depth) = (s.step * opt.grads_per_step(), s.step * opt.depth());
    println!(
        "epoch {:>3}  train loss {:.4}  test loss {:.4}  test acc {:.2}%  {:.1} s  grad evals {evals} (sequential {depth})",
        point.epoch,
        point.train_loss,
        point.test_loss,
        100.0 * point.test_acc,
        s.seconds,
    );
    run.records.push(json!({
        "kind": "epoch", "epoch": point.epoch, "train_loss": point.train_loss, "train_accuracy": point.train_acc,
        "test_loss": point.test_loss, "test_accuracy": point.test_acc, "seconds": s.seconds, "lr": s.lr,
        "steps": s.step, "grad_evals": evals, "sequential_grad_evals": depth,
    }));
    run.points.push(point);
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
    run: &RunState,
    out: &Path,
) -> Result<()> {
    checkpoint::save(model, &gpu.read(params)?, &out.join("model.safetensors"))?;
    let lines: String = run.records.iter().map(|r| format!("{r}\n")).collect();
    write(out, "metrics.jsonl", lines.as_bytes())?;
    plot::curves(&run.points, &model.name, &out.join("curves.png"))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    crate::fsutil::write_atomic(&path, bytes)
        .map_err(|e| Error::data(&path, format!("cannot write: {e}")))
}
