//! Where a run starts: the trainer's state, the position in the data, and the metrics so far.
//! A fresh run and a resumed one build the same [`Start`] (the fresh one from the seed and
//! `--init`, the resumed one from its checkpoint), so the epoch loop has one path.

use super::checkpoint::{self, Origin, Progress};
use super::config::TrainConfig;
use super::plot::EpochPoint;
use super::resumable::RESUMABLE;
use super::run_dir::RunDir;
use crate::data::{BatchOptions, Batcher, Dataset, Splits};
use crate::error::{Error, Result};
use crate::nn::Model;
use crate::optim::randsam::NOISE_STREAM;
use crate::rng::Pcg;
use crate::train::TrainerState;

/// A run's starting point.
pub struct Start {
    /// The trainer's state.
    pub trainer: TrainerState,
    /// The position in the epoch the run starts in.
    pub progress: Progress,
    /// The metrics records and epoch points written so far.
    pub records: Vec<serde_json::Value>,
    /// Per-epoch points so far.
    pub points: Vec<EpochPoint>,
}

/// The state at the start of epoch `epoch` with nothing of it done yet.
pub fn epoch_start(train: &Dataset, opts: &BatchOptions, epoch: usize) -> Progress {
    let batches = Batcher::new(train, opts.clone(), epoch as u64);
    let (position, augment_rng) = batches.position();
    Progress {
        epoch,
        position,
        order: batches.order().to_vec(),
        augment_rng,
        loss_sum: 0.0,
        correct: 0,
        seen: 0,
        seconds: 0.0,
    }
}

/// A fresh run's start: the seeded initialisation or `--init`'s parameters (and running
/// statistics, for a model with BatchNorm), the base optimizer's state and carried vectors at
/// zero, the
/// optimizer's generator from the seed, epoch 0.
pub fn fresh(
    config: &TrainConfig,
    model: &Model,
    carried: usize,
    (train, opts): (&Dataset, &BatchOptions),
) -> Result<Start> {
    // A new head, or a ViT at another image size, adapts the file as timm would; anything
    // else must match the model exactly.
    let adapt = config.reset_head || model.param("pos_embed").is_some();
    let x = match &config.init {
        Some(path) if adapt => {
            let seeded = model.init(config.seed);
            let (x, notes) = checkpoint::pretrained::load(model, path, &seeded, config.reset_head)?;
            if !notes.is_empty() {
                crate::outln!("init: {}: {}", path.display(), notes.join("; "));
            }
            x
        }
        Some(path) => checkpoint::load(model, path)?,
        None => model.init(config.seed),
    };
    let n = x.len();
    let trainer = TrainerState {
        x,
        base_state: crate::optim::base::state(config.optimizer.base)
            .iter()
            .map(|&v| (v, vec![0.0; n]))
            .collect(),
        carried: vec![vec![0.0; n]; carried],
        model_state: match &config.init {
            Some(path) => checkpoint::load_state(model, path)?,
            None => model.init_state(),
        },
        steps: 0,
        previous: None,
        noise_rng: Pcg::new(config.seed, NOISE_STREAM).state(),
        aesam: None,
    };
    Ok(Start {
        trainer,
        progress: epoch_start(train, opts, 0),
        records: Vec::new(),
        points: Vec::new(),
    })
}

/// A resumed run's start: everything from the checkpoint in `dir`, and the metrics records
/// written before it. The checkpoint must come from a run of `config` (but for the settings a
/// resume may change) on the same data as `splits`.
pub fn resumed(
    dir: &RunDir,
    model: &Model,
    config: &TrainConfig,
    splits: &Splits,
) -> Result<Start> {
    let path = dir.checkpoint();
    if !path.exists() {
        return Err(Error::Invalid(format!(
            "--resume {}: the run has no checkpoint yet (it stopped before writing its first); \
             start it again with its flags and --overwrite",
            dir.path().display()
        )));
    }
    // A run killed while writing left a temporary file behind; it is of no use now.
    crate::fsutil::remove_stale_temps(dir.path());
    let (trainer, progress, origin) = checkpoint::load_checkpoint(model, &path)?;
    check_origin(dir, config, splits, &origin)?;
    let (records, points) = dir.read_metrics(trainer.steps, progress.epoch)?;
    Ok(Start {
        trainer,
        progress,
        records,
        points,
    })
}

/// Refuse a resume on other data, or with a setting changed that made the checkpoint.
fn check_origin(
    dir: &RunDir,
    config: &TrainConfig,
    splits: &Splits,
    origin: &Origin,
) -> Result<()> {
    let data = splits.fingerprint();
    if data != origin.data {
        return Err(Error::Invalid(format!(
            "--data {}: this is not the data the run in {} trained on (it holds {data}; the \
             run's held {}); give the run's data, wherever it is now",
            config.data,
            dir.path().display(),
            origin.data
        )));
    }
    let recorded: serde_json::Value = serde_json::from_str(&origin.config).map_err(|e| {
        Error::data(
            dir.checkpoint(),
            format!("has a malformed \"config\" ({e})"),
        )
    })?;
    if let Some((field, was, now)) = config.differs_from(&recorded) {
        return Err(Error::data(
            dir.file("config.json"),
            format!(
                "says {field} = {now}, but the checkpoint was written with {field} = {was}; a \
                 resumed run keeps every setting but {}. Restore config.json, or start a new \
                 run with the new setting",
                RESUMABLE.join(", ")
            ),
        ));
    }
    Ok(())
}
