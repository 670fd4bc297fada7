//! `sampa train`: train a model with SGD, SAM, SAMPa or a baseline, and write a run directory.

use anyhow::Context;
use sampa::data::DEFAULT_DATA_DIR;
use sampa::train::{
    self, LookaheadMode, LrSchedule, OptimizerConfig, OptimizerKind, Schedule, TrainConfig,
};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Data: a directory of IDX, CIFAR binary or image-folder data, or `embedded` (the
    /// Fashion-MNIST subset built in). Default: /usr/share/datasets/fashion-mnist when it
    /// exists (`apt-get install dataset-fashion-mnist`), else `embedded`.
    #[arg(long)]
    data: Option<String>,
    /// Side of the square image-folder images are resized to.
    #[arg(long, default_value_t = 32)]
    image_size: usize,
    /// Model: `mlp` (hidden widths from --hidden) or `cnn` (conv 32, conv 64, fc 128).
    #[arg(long, default_value = "mlp", value_parser = ["mlp", "cnn"])]
    model: String,
    /// Hidden widths of the MLP.
    #[arg(long, value_delimiter = ',', default_value = "256,256")]
    hidden: Vec<usize>,
    /// Passes over the training set [default: 3].
    #[arg(long)]
    epochs: Option<usize>,
    /// Stop after N optimizer steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Examples per batch.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.05)]
    lr: f32,
    /// Learning-rate schedule, per epoch.
    #[arg(long, value_enum, default_value = "constant")]
    lr_schedule: LrSchedule,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// Weight decay.
    #[arg(long, default_value_t = 5e-4)]
    wd: f32,
    /// Nesterov momentum.
    #[arg(long)]
    nesterov: bool,
    /// Optimizer: sgd, sam (two gradients in sequence), sampa (two independent gradients),
    /// randsam, optsam (the naive parallel baselines) or sam-db (SAM's perturbation from the
    /// previous batch).
    #[arg(long, value_enum, default_value = "sgd")]
    optimizer: OptimizerKind,
    /// Perturbation radius of every SAM variant.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    rho: f32,
    /// SAMPa's λ in [0, 1]: the weight of the look-ahead gradient in the step.
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    lambda: f32,
    /// ASAM: the adaptive perturbation ρ·x²⊙g/‖|x|⊙g‖ (use a ρ about 10x larger).
    #[arg(long)]
    adaptive: bool,
    /// USAM: perturb by ρ·g, without dividing by the norm.
    #[arg(long)]
    unnormalized: bool,
    /// SAMPa's auxiliary point: `code` (the official code's full base-optimizer look-ahead)
    /// or `paper` (x − lr·g_y).
    #[arg(long, value_enum, default_value = "code")]
    sampa_lookahead: LookaheadMode,
    /// Where SAMPa's two gradients run: serial (one after the other), interleaved (one
    /// submission, layer by layer in turn), fused (each layer's kernels process both parameter
    /// sets in one dispatch), dual (the look-ahead gradient on a second adapter, see
    /// --adapter2), or auto (dual when a second adapter exists, else the fastest of serial,
    /// interleaved and fused, measured once per adapter and model and cached).
    #[arg(long, value_enum, default_value = "auto")]
    schedule: Schedule,
    /// The dual schedule's worker adapter (index, backend or name, as --adapter); default:
    /// the best adapter other than the main one.
    #[arg(long)]
    adapter2: Option<String>,
    /// Write checkpoint.safetensors into the run directory every N steps (it is always
    /// written after each epoch).
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Continue the run in DIR from its checkpoint, with the settings of its config.json;
    /// only --epochs, --steps, --adapter and --adapter2 may be given with it.
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "data", "image_size", "model", "hidden", "batch", "lr", "lr_schedule", "momentum", "wd",
        "nesterov", "optimizer", "rho", "lambda", "adaptive", "unnormalized", "sampa_lookahead",
        "checkpoint_every", "schedule", "label_smoothing", "seed", "no_shuffle", "train_limit", "normalize",
        "augment", "init", "log_every", "out",
    ])]
    resume: Option<PathBuf>,
    /// Label smoothing of the cross-entropy (the paper's vision runs use 0.1).
    #[arg(long, default_value_t = 0.0)]
    label_smoothing: f32,
    /// Seed of initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep file order instead of shuffling each epoch.
    #[arg(long)]
    no_shuffle: bool,
    /// Use only the first N training examples.
    #[arg(long)]
    train_limit: Option<usize>,
    /// Normalise each channel by the training set's mean and standard deviation.
    #[arg(long)]
    normalize: bool,
    /// Random crops (padding 4) and horizontal flips; on by default for CIFAR and image folders.
    #[arg(long)]
    augment: Option<bool>,
    /// Start from these parameters (safetensors with PyTorch names) instead of the seeded init.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Also log every N steps to metrics.jsonl.
    #[arg(long)]
    log_every: Option<usize>,
    /// Adapter: index, backend or name substring (see `sampa devices`); else SAMPA_ADAPTER.
    #[arg(long)]
    adapter: Option<String>,
    /// Output directory (default runs/<UTC timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The saved config of the run in `dir`, with the few settings a resumed run may change.
fn resumed_config(dir: &std::path::Path, a: &Args) -> anyhow::Result<TrainConfig> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "--resume {}: cannot read {}; give the directory of an earlier `sampa train` run",
            dir.display(),
            path.display()
        )
    })?;
    let mut config: TrainConfig = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a sampa run configuration", path.display()))?;
    config.out = dir.to_path_buf();
    config.steps = a.steps;
    if let Some(e) = a.epochs {
        config.epochs = e;
    }
    if a.adapter.is_some() {
        config.adapter = a.adapter.clone();
    }
    if a.adapter2.is_some() {
        config.adapter2 = a.adapter2.clone();
    }
    Ok(config)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(dir) = &a.resume {
        let config = resumed_config(dir, &a)?;
        let splits = train::load_data(&config)?;
        println!("data: {}", splits.description);
        let gpu = pollster::block_on(sampa::Gpu::open_flag_or_env(config.adapter.as_deref()))?;
        let summary = train::resume(&gpu, &config, &splits)?;
        return report(&summary, &config);
    }
    let data = a.data.clone().unwrap_or_else(|| {
        if std::path::Path::new(DEFAULT_DATA_DIR).is_dir() {
            DEFAULT_DATA_DIR.to_string()
        } else {
            "embedded".to_string()
        }
    });
    let mut config = TrainConfig {
        data,
        image_size: a.image_size,
        model: a.model,
        hidden: a.hidden,
        epochs: a.epochs.unwrap_or(3),
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        lr_schedule: a.lr_schedule,
        momentum: a.momentum,
        weight_decay: a.wd,
        nesterov: a.nesterov,
        optimizer: OptimizerConfig {
            kind: a.optimizer,
            rho: a.rho,
            lambda: a.lambda,
            adaptive: a.adaptive,
            unnormalized: a.unnormalized,
            lookahead: a.sampa_lookahead,
        },
        schedule: a.schedule,
        adapter2: a.adapter2,
        checkpoint_every: a.checkpoint_every,
        label_smoothing: a.label_smoothing,
        seed: a.seed,
        shuffle: !a.no_shuffle,
        train_limit: a.train_limit,
        normalize: a.normalize,
        augment: a.augment.unwrap_or(false),
        init: a.init,
        log_every: a.log_every,
        adapter: a.adapter,
        out: a
            .out
            .unwrap_or_else(|| PathBuf::from("runs").join(timestamp())),
    };
    train::validate(&config)?;
    let splits = train::load_data(&config)?;
    config.augment = a.augment.unwrap_or(splits.natural_images);
    println!("data: {}", splits.description);
    let gpu = pollster::block_on(sampa::Gpu::open_flag_or_env(config.adapter.as_deref()))?;
    let summary = train::run(&gpu, &config, &splits)?;
    report(&summary, &config)
}

fn report(summary: &train::RunSummary, config: &TrainConfig) -> anyhow::Result<()> {
    match summary.epochs.last() {
        Some(last) => println!(
            "done: {} steps in {:.1} s; test accuracy {:.2}%; wrote {}",
            summary.steps,
            summary.seconds,
            100.0 * last.test_acc,
            config.out.display()
        ),
        None => println!(
            "nothing to do: the run in {} has already taken its {} epochs",
            config.out.display(),
            config.epochs
        ),
    }
    Ok(())
}

/// `YYYYmmdd-HHMMSS` in UTC.
fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
