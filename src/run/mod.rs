//! `sampa train`'s native side: the settings ([`TrainConfig`]), the data, the run directory
//! ([`RunDir`]), checkpoints, and the epoch loop around the core's [`Trainer`].
//!
//! A run starts from a [`start::Start`], fresh or from a checkpoint, and then the two take the
//! same path: each epoch's batches from the seed (or from where the checkpoint stopped), one
//! trainer step per batch, the test evaluation, and the run directory's files rewritten. A
//! diverging run stops, names the step, and leaves the last good files in place.
//!
//! What it must not touch: kernels' and models' internals. It is the only module that writes
//! a run directory, and it drives training only through `train`'s trainer.

pub mod checkpoint;
pub mod config;
mod epoch;
pub mod lock;
pub mod peers;
pub mod placement;
pub mod plot;
pub mod resumable;
pub mod run_dir;
pub mod start;
mod stopped;
mod text;
pub mod validation;

pub use checkpoint::Progress;
pub use config::{Augment, LrSchedule, TrainConfig};
pub use epoch::{RunSummary, evaluate, glue_scores, train_options};
pub use peers::Peers;
pub use plot::EpochPoint;
pub use run_dir::{CHECKPOINT, RunDir};

use crate::data::{self, LoadOptions, Source, Splits};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::Model;
use crate::train::{Trainer, TrainerSpec};
use std::path::{Path, PathBuf};

/// Load the data a config names (`embedded`, or a directory).
pub fn load_data(c: &TrainConfig) -> Result<Splits> {
    let source = if c.data == "embedded" {
        Source::Embedded
    } else {
        Source::Dir(c.data.clone().into())
    };
    let opts = LoadOptions {
        image_size: c.image_size,
        folder_size: c.folder_size.unwrap_or(32),
        classes: c.classes,
        imagenet: c.augment == Some(Augment::ImageNet),
        workers: c.workers.unwrap_or_else(data::default_workers),
    };
    let mut splits = match text::load(c)? {
        Some(splits) => splits,
        None => data::load(&source, opts)?,
    };
    if opts.imagenet && !splits.train.is_streamed() {
        return Err(Error::Invalid(format!(
            "--augment imagenet: sizes and crops the images of image folders (DIR/train/<class>/ \
             and DIR/val/<class>/), and {} is not one; use --augment true or false",
            splits.description
        )));
    }
    if let Some(n) = c.train_limit {
        splits.train.truncate(n);
    }
    if let Some(n) = c.test_limit {
        splits.test.truncate(n);
    }
    if let Some(n) = c.val_split {
        validation::split(&mut splits, n, c.seed)?;
    }
    if c.label_noise > 0.0 {
        add_label_noise(
            &mut splits.train.labels,
            splits.classes,
            (c.label_noise, c.seed),
        );
    }
    for (split, d) in [("training", &splits.train), ("test", &splits.test)] {
        if d.is_empty() {
            return Err(crate::Error::data(
                std::path::Path::new(&c.data),
                format!(
                    "holds no {split} examples; sampa train needs at least one of each (check the data files)"
                ),
            ));
        }
    }
    Ok(splits)
}

/// The generator stream of `--label-noise`.
const LABEL_NOISE_STREAM: u64 = 0x1abe1;

/// Replace each label, with probability `rate`, by a class drawn uniformly from `classes`
/// (symmetric noise; the draw may give the label back), seeded by `seed`.
pub fn add_label_noise(labels: &mut [u32], classes: usize, (rate, seed): (f32, u64)) {
    let mut rng = crate::rng::Pcg::new(seed, LABEL_NOISE_STREAM);
    for l in labels {
        // Both draws for every label, so one label's noise does not shift the others'.
        let (u, class) = (rng.next_f32(), rng.below(classes as u32));
        if u < rate {
            *l = class;
        }
    }
}

/// The model a config names, for `splits`' images and classes. A BERT's word and position
/// tables are `--init`'s sizes where it is given. `--bn-stats` is refused for a model
/// without BatchNorm, which has no running statistics for it to choose a pass for.
pub fn build_model(config: &TrainConfig, splits: &Splits) -> Result<Model> {
    build_model_sized(config, splits, config.init.as_deref())
}

/// [`build_model`] with a BERT's tables sized as in the safetensors file `tables` (the run's
/// checkpoint, when resuming: its `--init` file may have moved since).
fn build_model_sized(
    config: &TrainConfig,
    splits: &Splits,
    tables: Option<&Path>,
) -> Result<Model> {
    let model = match tables {
        Some(file) if config.model.starts_with("bert") => {
            let tables = text::bert_tables(file)?;
            Model::for_text_tables(&config.model, splits, Some(tables))?
        }
        _ => Model::for_splits(&config.model, &config.hidden, splits)?,
    };
    let mut model = model.with_dropout(config.dropout_rate())?;
    if config.zero_init_residual {
        model = model.with_zero_init_residual()?;
    }
    if let Some(pass) = config.optimizer.bn_stats
        && model.state.is_empty()
    {
        return Err(crate::error::Error::Invalid(format!(
            "--bn-stats {}: --model {} has no BatchNorm, so there are no running statistics to \
             update; leave --bn-stats out",
            pass.name(),
            config.model
        )));
    }
    Ok(model)
}

/// Train as `config` says on `gpu`, printing progress, and write the run directory.
pub fn run(gpu: &Gpu, config: &TrainConfig, splits: &Splits) -> Result<RunSummary> {
    train(gpu, config, splits, false, Peers::alone())
}

/// Continue the run in `config.out` from its `checkpoint.safetensors`, exactly where it
/// stopped, until `config`'s epochs or steps are done.
pub fn resume(gpu: &Gpu, config: &TrainConfig, splits: &Splits) -> Result<RunSummary> {
    train(gpu, config, splits, true, Peers::alone())
}

/// [`run`] or [`resume`] as one process of several (`peers`: an MPI rank's part).
pub fn train(
    gpu: &Gpu,
    config: &TrainConfig,
    splits: &Splits,
    resuming: bool,
    mut peers: Peers,
) -> Result<RunSummary> {
    config.validate()?;
    let mut config = config.clone();
    let natural = if splits.natural_images {
        Augment::Crop
    } else {
        Augment::Off
    };
    config.augment = Some(config.augment.unwrap_or(natural));
    // config.json records SGD's momentum even when it was left at its default.
    if config.optimizer.base == crate::optim::BaseKind::Sgd {
        config.momentum = Some(config.base_settings().momentum);
    }
    // Absolute paths, so that config.json means the same from any working directory.
    if config.data != "embedded" {
        config.data = absolute(Path::new(&config.data))?.display().to_string();
    }
    config.init = config.init.as_deref().map(absolute).transpose()?;
    let kernels = match config.kernels {
        Some(k) => k,
        None => crate::tuning::choose(gpu)?,
    };
    config.kernels = Some(kernels);
    // A new run writes nothing until it has started; a resumed one writes into its own.
    if !resuming && peers.leader {
        RunDir::check_free(&config.out, config.overwrite)?;
    }
    // A resumed run owns its directory before it reads the checkpoint (the leader: the one
    // process of a run that writes).
    let existing = match resuming && peers.leader {
        true => RunDir::resume(&config.out)?,
        false => RunDir::existing(&config.out),
    };
    let saved = config.out.join(CHECKPOINT);
    // Without a checkpoint, the resume stops below with a message that says so.
    let tables = if resuming && saved.exists() {
        Some(saved.as_path())
    } else {
        config.init.as_deref()
    };
    let model = build_model_sized(&config, splits, tables)?;
    let program = crate::optim::program(&config.optimizer);
    let copies = crate::train::fits::copies(config.schedule, program.has_pair());
    // Beyond the momentum the host keeps, a base with more state (Adam's two moments) needs more.
    let carried = program.carries.len() + program.state.len().saturating_sub(1);
    crate::train::fits::check_fits(gpu, &model, config.batch, copies, carried)?;
    let opts = epoch::train_options(&config, splits);
    let start = if resuming {
        let start = start::resumed(&existing, &model, &config, splits)?;
        if let Some(done) = already_done(&config, &start)? {
            return Ok(done);
        }
        crate::outln!(
            "resuming {} at step {} (epoch {})",
            existing.path().display(),
            start.trainer.steps,
            start.progress.epoch + 1
        );
        start
    } else {
        start::fresh(
            &config,
            &model,
            program.carries.len(),
            (&splits.train, &opts),
        )?
    };
    let spec = TrainerSpec {
        model: model.clone(),
        smoothing: config.label_smoothing,
        optimizer: config.optimizer,
        seed: config.seed,
        kernels,
    };
    let mut trainer = Trainer::new(gpu, spec, &start.trainer.x)?;
    trainer.restore(gpu, &start.trainer)?;
    let how = (&model, &config.optimizer, config.label_smoothing);
    let placement = match peers.worker.take() {
        Some(worker) => crate::train::Placement::Dual(worker),
        None if peers.in_mpi => crate::train::Placement::Serial,
        None => placement::resolve(
            (gpu, kernels),
            config.schedule,
            config.adapter2.as_deref(),
            how,
            config.batch,
        )?,
    };
    trainer.set_placement(gpu, placement)?;
    if let Some(every) = config.diagnose_every {
        trainer.set_diagnosis(gpu, every)?;
    }
    let part = peers::Part {
        leader: peers.leader,
        shard: peers.shard.as_ref().map(|(i, k, _)| (*i, *k)),
        resume_command: peers.resume_command.clone(),
    };
    if let Some((_, _, reduce)) = peers.shard.take() {
        trainer.set_shard(gpu, reduce);
        trainer.set_sync_bn(config.sync_bn);
    }
    if !peers.leader {
        return epoch::epochs(
            gpu,
            &config,
            (&mut trainer, &existing),
            splits,
            (start, part),
        );
    }
    let dir = if resuming {
        existing
    } else {
        RunDir::create(&config.out, config.overwrite)?
    };
    dir.write_config(&config)?;
    let dropout = match config.dropout_rate() {
        0.0 => String::new(),
        p => format!(", dropout {p}"),
    };
    let other = match program.alternative {
        Some(_) => format!(
            " ({} on the steps without SAM's)",
            program.other_form_grads()
        ),
        None => String::new(),
    };
    crate::outln!(
        "model: {} ({} parameters{dropout}) on {}; optimizer {}: gradients per step {}, in sequence {}{other}; schedule {}",
        model.name,
        model.param_count(),
        gpu.adapter.short(),
        config.optimizer.label(),
        program.grads(),
        program.depth(),
        trainer.schedule_name()
    );
    if config.optimizer.no_wd_1d {
        let exempt = model.decay_exempt();
        let count: usize = exempt.iter().map(|p| p.len()).sum();
        crate::outln!(
            "--no-wd-1d: --wd {} spares {} of {} tensors ({count} parameters): biases, 1-D \
             tensors, pos_embed and cls_token",
            config.weight_decay,
            exempt.len(),
            model.params.len()
        );
    }
    if let Some(every) = config.diagnose_every {
        crate::outln!(
            "diagnosis: every {every} steps one more gradient pass, at x (counted in the grad \
             evals); cos(∇f(x), ∇f(y)) and ‖∇f(x) − ∇f(y)‖ go to metrics.jsonl and curves.png"
        );
    }
    epoch::epochs(gpu, &config, (&mut trainer, &dir), splits, (start, part))
}

/// `path` made absolute against the working directory (not resolving links: the path the
/// user gave stays recognisable).
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::data(path, format!("has no absolute form: {e}")))
}

/// A resumed run that has nothing left to do: its summary (no new epochs, nothing written).
/// An error when it has gone past what `config` asks for, since that cannot be undone.
fn already_done(config: &TrainConfig, start: &start::Start) -> Result<Option<RunSummary>> {
    let (steps, epoch) = (start.trainer.steps, start.progress.epoch);
    let out = config.out.display();
    if let Some(s) = config.steps.filter(|&s| s < steps) {
        return Err(Error::Invalid(format!(
            "--steps {s}: the run in {out} has already taken {steps} steps; give a larger \
             --steps to train on, or none to train to the end of its epochs"
        )));
    }
    if config.epochs < epoch {
        return Err(Error::Invalid(format!(
            "--epochs {}: the run in {out} has already finished {epoch} epochs; give a larger \
             --epochs to train on",
            config.epochs
        )));
    }
    let finished = config.steps == Some(steps) || config.epochs == epoch;
    Ok(finished.then(|| RunSummary {
        best: None,
        epochs: Vec::new(),
        steps,
        params: start.trainer.x.clone(),
        seconds: 0.0,
    }))
}
