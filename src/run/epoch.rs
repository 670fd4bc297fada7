//! The epoch loop: from a [`Start`], each epoch's batches, one step per batch with the
//! progress bar, step records and checkpoints, then the test evaluation, the epoch's summary
//! line and record, and the run directory's files.

use super::checkpoint::{self, Origin, Progress};
use super::config::{Augment, TrainConfig};
use super::peers::Part;
use super::plot::EpochPoint;
use super::run_dir::RunDir;
use super::start::{Start, epoch_start};
use super::stopped::{device_failed, device_loss_at, diverged};
use crate::data::{self, Batch, BatchOptions, Batcher, Dataset, Splits};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::model_info::ModelInfo;
use crate::text::dataset::label_of;
use crate::text::glue::Task;
use crate::train::{Scores, StepReport, Trainer};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
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
    /// With `--val-split`, the epoch of the best validation accuracy.
    pub best: Option<super::validation::Best>,
}

/// How training batches are formed.
pub fn train_options(config: &TrainConfig, splits: &Splits) -> BatchOptions {
    BatchOptions {
        batch: config.batch,
        shuffle: config.shuffle,
        seed: config.seed,
        normalize: match config.augment {
            Some(Augment::ImageNet) => Some(data::IMAGENET_STATS.to_vec()),
            _ => config.normalize.then(|| data::channel_stats(&splits.train)),
        },
        augment: config
            .augment
            .map_or(splits.natural_images, |a| a == Augment::Crop),
        cutout: config.cutout,
        imagenet: config.augment == Some(Augment::ImageNet),
    }
}

/// The metrics records and per-epoch points of the run so far, and the step of its last
/// checkpoint.
struct Log {
    records: Vec<serde_json::Value>,
    points: Vec<EpochPoint>,
    checkpointed: Option<usize>,
}

/// One epoch's running training statistics.
struct EpochStats {
    epoch: usize,
    lr: f32,
    loss_sum: f64,
    correct: usize,
    seen: usize,
    step: usize,
    seconds: f64,
    /// Of `seconds`, those this replica spent in the data-parallel sums (`None` outside
    /// data-parallel runs).
    reduce_seconds: Option<f64>,
}

/// Every epoch from `start` on; returns the run's summary.
pub(super) fn epochs(
    gpu: &Gpu,
    config: &TrainConfig,
    (trainer, dir): (&mut Trainer, &RunDir),
    splits: &Splits,
    (start, part): (Start, Part),
) -> Result<RunSummary> {
    let started = Instant::now();
    let mut log = Log {
        records: start.records,
        points: start.points,
        checkpointed: (trainer.steps() > 0).then(|| trainer.steps()),
    };
    let mut progress = start.progress;
    let opts = train_options(config, splits);
    let setup = Setup {
        origin: Origin::of(config, splits),
        info: ModelInfo::of(&config.model, &config.hidden, splits, &opts).with_text(
            config,
            splits,
            &trainer.spec().model,
        ),
        opts,
        part,
    };
    while progress.epoch < config.epochs && !done(config, trainer.steps()) {
        let run = (&mut *trainer, dir, &setup);
        progress = epoch(gpu, config, run, splits, &progress, &mut log)
            .map_err(|e| device_failed(e, (gpu, dir), log.checkpointed, &setup.part))?;
    }
    Ok(RunSummary {
        best: super::validation::best(&log.records),
        epochs: log.points,
        steps: trainer.steps(),
        params: gpu.read(trainer.params())?,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What stays fixed over a run: how its batches are formed, and what its files record of it
/// (the checkpoint its origin, the model file its model).
struct Setup {
    opts: BatchOptions,
    origin: Origin,
    info: ModelInfo,
    part: Part,
}

/// One epoch from `progress`: its steps, the test evaluation and the run directory's files;
/// returns where the next epoch starts.
fn epoch(
    gpu: &Gpu,
    config: &TrainConfig,
    (trainer, dir, setup): (&mut Trainer, &RunDir, &Setup),
    splits: &Splits,
    progress: &Progress,
    log: &mut Log,
) -> Result<Progress> {
    let opts = &setup.opts;
    let mut batches = batcher(&splits.train, opts, progress, dir)?;
    let stats = train_epoch(
        gpu,
        config,
        (trainer, dir, setup),
        &mut batches,
        progress,
        log,
    )?;
    // A finished epoch checkpoints as the start of the next one; a run stopped by --steps
    // inside an epoch checkpoints where it stopped, and a resumed run redoes that epoch's
    // summary at its end.
    let next = if batches.position().0 >= splits.train.len() {
        epoch_start(&splits.train, opts, progress.epoch + 1)
    } else {
        progress_within(&batches, &stats, stats.seconds)
    };
    if !setup.part.leader {
        // The other ranks of an MPI job train in step with rank 0, which alone evaluates,
        // prints and writes.
        return Ok(next);
    }
    let task = config.task.as_deref().map(Task::named).transpose()?;
    finish_epoch(gpu, trainer, (&splits.test, opts, task), &stats, log)?;
    if let Some(val) = &splits.val {
        let parts = (&mut *trainer, val, opts);
        super::validation::after_epoch(gpu, parts, (dir, &setup.info), &mut log.records)?;
    }
    // One readback serves the model file and the checkpoint.
    let state = trainer.state(gpu)?;
    let model = &trainer.spec().model;
    let weights = (&state.x[..], &state.model_state[..]);
    dir.write_outputs((model, &setup.info), weights, (&log.records, &log.points))?;
    checkpoint::save_checkpoint(model, (&state, &next), &setup.origin, &dir.checkpoint())?;
    log.checkpointed = Some(state.steps);
    Ok(next)
}

fn done(config: &TrainConfig, steps: usize) -> bool {
    config.steps.is_some_and(|s| steps >= s)
}

/// The batches of `p`'s epoch from where `p` stands, checking that the data is the run's.
fn batcher<'a>(
    train: &'a Dataset,
    opts: &BatchOptions,
    p: &Progress,
    dir: &RunDir,
) -> Result<Batcher<'a>> {
    let b = Batcher::resume(
        train,
        opts.clone(),
        p.epoch as u64,
        p.position,
        p.augment_rng,
    );
    if b.order() != p.order.as_slice() {
        return Err(Error::data(
            dir.checkpoint(),
            "was written for different training data (its shuffle order does not match); \
             resume with the run's original data and --train-limit",
        ));
    }
    Ok(b)
}

/// The steps of one epoch from `p` on, until its batches or the run's steps run out.
fn train_epoch(
    gpu: &Gpu,
    config: &TrainConfig,
    (trainer, dir, setup): (&mut Trainer, &RunDir, &Setup),
    batches: &mut Batcher<'_>,
    p: &Progress,
    log: &mut Log,
) -> Result<EpochStats> {
    // The rate changes per step (warm-up, per-step schedules); the epoch reports its first.
    let (plan, settings) = (config.lr_plan(batches.batches()), config.base_settings());
    let rate = |step: usize| plan.rate(step, p.epoch);
    trainer.set_run_steps(plan.total);
    let mut s = EpochStats {
        epoch: p.epoch,
        lr: rate(trainer.steps()),
        loss_sum: p.loss_sum,
        correct: p.correct,
        seen: p.seen,
        step: trainer.steps(),
        seconds: 0.0,
        reduce_seconds: None,
    };
    let reduced_before = trainer.reduce_seconds();
    let leader = setup.part.leader;
    let bar = match leader {
        true => progress_bar(p.epoch, config.epochs, batches.batches()),
        false => ProgressBar::hidden(),
    };
    bar.set_position(p.position.div_ceil(config.batch) as u64);
    let clock = Instant::now();
    let seconds = || p.seconds + clock.elapsed().as_secs_f64();
    let mut batch = Batch::default();
    let lose_at = device_loss_at();
    // The steps are pipelined (see `train::step`): a step's report arrives when the next step
    // is submitted. `waiting` holds the examples and rate of the step in flight.
    let mut waiting = None;
    let account = |report: Option<StepReport>, of, s: &mut EpochStats, log: &mut Log| {
        let (Some(r), Some(of)) = (report, of) else {
            return Ok(());
        };
        account_step((gpu, config), (r, of), (s, log), (&bar, p, dir), seconds())
    };
    while batches.next_into(&mut batch)? {
        if lose_at == Some(trainer.steps()) {
            gpu.device.destroy();
        }
        let lr = rate(trainer.steps());
        let report = setup
            .part
            .submit(gpu, trainer, &batch, settings.hyper(lr))?;
        let before = waiting.replace((batch.len(), lr));
        account(report, before, &mut s, log)?;
        let step = trainer.steps();
        // Every rank reads its steps back at the same points: a data-parallel step's report
        // is summed over the replicas.
        let checkpoint = config
            .checkpoint_every
            .is_some_and(|k| step.is_multiple_of(k));
        if checkpoint || done(config, step) {
            account(trainer.finish(gpu)?, waiting.take(), &mut s, log)?;
        }
        if leader && checkpoint {
            let progress = progress_within(batches, &s, seconds());
            let state = trainer.state(gpu)?;
            checkpoint::save_checkpoint(
                &trainer.spec().model,
                (&state, &progress),
                &setup.origin,
                &dir.checkpoint(),
            )?;
            log.checkpointed = Some(step);
        }
        if done(config, step) {
            break;
        }
    }
    if let (Some(r), Some(of)) = (trainer.finish(gpu)?, waiting) {
        account_step(
            (gpu, config),
            (r, of),
            (&mut s, log),
            (&bar, p, dir),
            seconds(),
        )?;
    }
    bar.finish();
    s.seconds = seconds();
    s.reduce_seconds = trainer
        .reduce_seconds()
        .zip(reduced_before)
        .map(|(now, before)| now - before);
    Ok(s)
}

/// Take in the report `r` of a step on `n` examples at rate `lr`: stop a diverged run, add
/// the step to the epoch's statistics, log it and move the bar.
fn account_step(
    (gpu, config): (&Gpu, &TrainConfig),
    (r, (n, lr)): (StepReport, (usize, f32)),
    (s, log): (&mut EpochStats, &mut Log),
    (bar, p, dir): (&ProgressBar, &Progress, &RunDir),
    seconds: f64,
) -> Result<()> {
    if let Some(what) = r.divergence() {
        bar.abandon();
        return Err(diverged(
            &what,
            (r.step, p.epoch),
            !log.points.is_empty(),
            dir,
        ));
    }
    s.loss_sum += r.loss as f64 * n as f64;
    s.correct += r.correct as usize;
    s.seen += n;
    s.step = r.step;
    if config.log_every.is_some_and(|k| r.step.is_multiple_of(k)) {
        let accuracy = r.correct as f64 / n as f64;
        let mut record = json!({"kind": "step", "step": r.step, "epoch": p.epoch + 1, "loss": r.loss, "accuracy": accuracy, "lr": lr});
        if let Some(bytes) = gpu.allocated_bytes() {
            record["device_allocated_bytes"] = bytes.into();
        }
        if let Some(n) = r.perturbation {
            record["grad_norm"] = n.grad.into();
            record["eps_norm"] = n.eps.into();
        }
        log.records.push(record);
    }
    if let Some(d) = r.diagnosis {
        log.records.push(json!({
            "kind": "diagnosis", "step": r.step, "epoch": p.epoch + 1, "cos": d.cos,
            "distance": d.distance, "grad_norm_x": d.norm_x, "grad_norm_y": d.norm_y,
        }));
    }
    bar.set_message(format!(
        "loss {:.4} acc {:.2}% {:.0} ex/s",
        s.loss_sum / s.seen as f64,
        100.0 * s.correct as f64 / s.seen as f64,
        s.seen as f64 / seconds.max(1e-9)
    ));
    bar.inc(1);
    Ok(())
}

/// Where a run stands in `stats.epoch`, whose batches are `batches`, after `seconds` in it.
fn progress_within(batches: &Batcher, stats: &EpochStats, seconds: f64) -> Progress {
    let (position, augment_rng) = batches.position();
    Progress {
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

fn progress_bar(epoch: usize, epochs: usize, batches: usize) -> ProgressBar {
    // A bar is for a person watching: off when the output goes to a file or a pipe.
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || crate::console::stdout_closed() {
        return ProgressBar::hidden();
    }
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
    (test, opts, task): (&Dataset, &BatchOptions, Option<Task>),
    s: &EpochStats,
    log: &mut Log,
) -> Result<()> {
    let (scores, glue) = match task {
        Some(task) => glue_scores(gpu, trainer, (test, opts), task)?,
        None => (evaluate(gpu, trainer, test, opts)?, Vec::new()),
    };
    let mut point = EpochPoint::of(s.epoch, (s.loss_sum, s.correct, s.seen), scores);
    // A regression has no accuracy: its epochs report GLUE's correlations instead.
    let regression = trainer.spec().model.regression();
    if regression {
        (point.train_acc, point.test_acc) = (f64::NAN, f64::NAN);
    }
    let acc_text = if regression {
        String::new()
    } else {
        format!("  test acc {:.2}%", 100.0 * point.test_acc)
    };
    let (evals, depth) = trainer.grad_evals();
    let full = trainer
        .program()
        .alternative
        .is_some()
        .then(|| trainer.full_steps());
    let top5 = point.test_top5;
    let top5_text = top5.map_or(String::new(), |t| format!("  top-5 {:.2}%", 100.0 * t));
    let glue_text: String = glue
        .iter()
        .map(|(name, v)| format!("  {name} {v:.4}"))
        .collect();
    let sam_text = full.map_or(String::new(), |f| format!(", SAM steps {f}/{}", s.step));
    let reduce_text = s
        .reduce_seconds
        .map_or(String::new(), |r| format!(" ({r:.1} s all-reduce)"));
    crate::outln!(
        "epoch {:>3}  train loss {:.4}  test loss {:.4}{acc_text}{top5_text}{glue_text}  {:.1} s{reduce_text}  grad evals {evals} (sequential {depth}{sam_text})",
        point.epoch,
        point.train_loss,
        point.test_loss,
        s.seconds,
    );
    let mut record = json!({
        "kind": "epoch", "epoch": point.epoch, "train_loss": point.train_loss,
        "test_loss": point.test_loss, "seconds": s.seconds, "lr": s.lr,
        "steps": s.step, "grad_evals": evals, "sequential_grad_evals": depth,
    });
    if !regression {
        record["train_accuracy"] = point.train_acc.into();
        record["test_accuracy"] = point.test_acc.into();
    }
    if let Some(t) = top5 {
        record["test_top5_accuracy"] = t.into();
    }
    for (name, v) in glue {
        record[format!("test_{name}")] = v.into();
    }
    if let Some(f) = full {
        record["sam_steps"] = f.into();
    }
    if let Some(r) = s.reduce_seconds {
        record["allreduce_seconds"] = r.into();
    }
    // sampa allocates the run's buffers before their first use and keeps them (the
    // evaluation's at the first epoch's end), so the live total after an epoch is the run's
    // high-water mark so far.
    if let Some(bytes) = gpu.allocated_bytes() {
        record["peak_device_bytes"] = bytes.into();
    }
    log.records.push(record);
    log.points.push(point);
    Ok(())
}

/// The test scores, and GLUE's metrics for `task` beyond accuracy (which the scores hold):
/// Matthews' correlation for CoLA, F1 for MRPC and QQP.
pub fn glue_scores(
    gpu: &Gpu,
    trainer: &mut Trainer,
    (data, opts): (&Dataset, &BatchOptions),
    task: Task,
) -> Result<(Scores, Vec<(&'static str, f64)>)> {
    let (scores, predicted) = gpu.block_on(trainer.evaluate_predicting_async(gpu, data, opts))?;
    let labels = |v: &[u32]| v.iter().map(|&v| label_of(task, v)).collect::<Vec<_>>();
    let metrics = task
        .metrics(&labels(&predicted), &labels(&data.labels))
        .into_iter()
        .filter(|(name, _)| *name != "accuracy")
        .collect();
    Ok((scores, metrics))
}

/// Mean loss and accuracies over `data` at the current parameters (blocking
/// [`Trainer::evaluate_async`]).
pub fn evaluate(
    gpu: &Gpu,
    trainer: &mut Trainer,
    data: &Dataset,
    opts: &BatchOptions,
) -> Result<Scores> {
    gpu.block_on(trainer.evaluate_async(gpu, data, opts))
}
