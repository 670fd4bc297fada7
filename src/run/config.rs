//! Every setting of a training run: the `sampa train` flags (clap derives them from this
//! struct) and `config.json` (serde writes it), so a run can be repeated or resumed.

use crate::data::DEFAULT_DATA_DIR;
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::optim::OptimizerConfig;
use crate::train::Schedule;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How the learning rate changes over epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// The same rate throughout.
    Constant,
    /// Cosine annealing per epoch: lr · (1 + cos(π e / E)) / 2 in epoch e of E.
    Cosine,
}

impl LrSchedule {
    /// The rate for epoch `epoch` (0-based) of `epochs`.
    pub fn rate(self, lr: f32, epoch: usize, epochs: usize) -> f32 {
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine => {
                let t = epoch as f64 / epochs.max(1) as f64;
                (lr as f64 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())) as f32
            }
        }
    }
}

/// The data a run reads when `--data` is not given.
fn default_data() -> String {
    if std::path::Path::new(DEFAULT_DATA_DIR).is_dir() {
        DEFAULT_DATA_DIR.to_string()
    } else {
        "embedded".to_string()
    }
}

/// `runs/<UTC timestamp>`.
fn default_out() -> PathBuf {
    PathBuf::from("runs").join(crate::fsutil::timestamp())
}

/// A training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct TrainConfig {
    /// Data: a directory of IDX, CIFAR binary or image-folder data, or `embedded` (the
    /// Fashion-MNIST subset built in). Default: /usr/share/datasets/fashion-mnist when it
    /// exists (`apt-get install dataset-fashion-mnist`), else `embedded`.
    #[arg(long, default_value_t = default_data(), hide_default_value = true)]
    pub data: String,
    /// Side of the square image-folder images are resized to.
    #[arg(long, default_value_t = 32)]
    pub image_size: usize,
    /// Classes, when not the data format's own (10 for IDX and CIFAR-10, 100 for CIFAR-100,
    /// one per sub-folder for image folders). Every label must be below it.
    #[arg(long)]
    #[serde(default)]
    pub classes: Option<usize>,
    /// Model: `mlp` (hidden widths from --hidden), `cnn` (conv 32, conv 64, fc 128), a CIFAR
    /// ResNet `resnetN` with N = 6n+2 (resnet20, resnet32, resnet56), or a Wide ResNet
    /// `wrn-D-K` (wrn-16-8, wrn-28-2, wrn-28-10); the ResNets have BatchNorm.
    #[arg(long, default_value = "mlp", value_parser = parse_model)]
    pub model: String,
    /// Hidden widths of the MLP.
    #[arg(long, value_delimiter = ',', default_value = "256,256")]
    pub hidden: Vec<usize>,
    /// Passes over the training set.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Stop after N optimizer steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Examples per batch.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub lr: f32,
    /// Learning-rate schedule, per epoch.
    #[arg(long, value_enum, default_value = "constant")]
    pub lr_schedule: LrSchedule,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub momentum: f32,
    /// Weight decay.
    #[arg(long = "wd", default_value_t = 5e-4, allow_negative_numbers = true)]
    pub weight_decay: f32,
    /// Nesterov momentum.
    #[arg(long)]
    pub nesterov: bool,
    /// The optimizer and its options.
    #[command(flatten)]
    pub optimizer: OptimizerConfig,
    /// Where SAMPa's two gradients run: serial (one after the other), interleaved (one
    /// submission, layer by layer in turn), fused (each layer's kernels process both parameter
    /// sets in one dispatch), dual (the look-ahead gradient on a second adapter, see
    /// --adapter2), or auto (dual when a second adapter exists, else the fastest of serial,
    /// interleaved and fused, measured once per adapter and model and cached).
    #[arg(long, value_enum, default_value = "auto")]
    pub schedule: Schedule,
    /// The dual schedule's worker adapter (index, backend or name, as --adapter); default:
    /// the best adapter other than the main one.
    #[arg(long)]
    pub adapter2: Option<String>,
    /// Write checkpoint.safetensors into the run directory every N steps (it is always
    /// written after each epoch).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Label smoothing of the cross-entropy (the paper's vision runs use 0.1).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub label_smoothing: f32,
    /// Seed of initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Shuffle each epoch (`--no-shuffle` keeps file order).
    #[arg(long = "no-shuffle", action = clap::ArgAction::SetFalse)]
    pub shuffle: bool,
    /// Use only the first N training examples.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Symmetric label noise on the training set: each label, with this probability, replaced
    /// by a class drawn uniformly from all classes (seeded by --seed); the test set is clean.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    #[serde(default)]
    pub label_noise: f32,
    /// Wide ResNets: the dropout rate before each unit's second convolution while training
    /// (davda54's `--dropout`). Masks are drawn from --seed, the step and the gradient pass,
    /// so runs repeat and resume exactly.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    #[serde(default)]
    pub dropout: f32,
    /// Hold out N training examples (drawn by --seed) as a validation set: each epoch reports
    /// its accuracy, `best.safetensors` keeps the best epoch's model, and the run reports the
    /// test accuracy at that epoch beside the last one's.
    #[arg(long)]
    #[serde(default)]
    pub val_split: Option<usize>,
    /// Evaluate on only the first N test examples.
    #[arg(long)]
    #[serde(default)]
    pub test_limit: Option<usize>,
    /// Normalise each channel by the training set's mean and standard deviation.
    #[arg(long)]
    pub normalize: bool,
    /// Random crops (padding 4) and horizontal flips; on by default for CIFAR and image folders.
    #[arg(long)]
    pub augment: Option<bool>,
    /// Cutout (16×16 squares with probability 1/2, after normalisation), the paper's recipe.
    #[arg(long)]
    #[serde(default)]
    pub cutout: bool,
    /// Start from these parameters (safetensors with PyTorch names) instead of the seeded init.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Also log every N steps to metrics.jsonl.
    #[arg(long)]
    pub log_every: Option<usize>,
    /// Adapter: index, backend or name substring (see `sampa devices`); else SAMPA_ADAPTER.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Output directory (default runs/<UTC timestamp>). It must not hold a run already.
    #[arg(long, default_value_os_t = default_out(), hide_default_value = true)]
    pub out: PathBuf,
    /// Replace the run already in --out (its files are deleted once the new run has started).
    #[arg(long)]
    #[serde(skip)]
    pub overwrite: bool,
    /// The kernel forms the run's device uses (chosen once per adapter; recorded so that a
    /// resumed run computes exactly as before).
    #[arg(skip)]
    #[serde(default)]
    pub kernels: Option<Kernels>,
}

/// The settings a resumed run may change: how long it runs, on which adapters, and where its
/// data and directory now are (the data itself must be the same: its fingerprint is checked).
/// Every other setting shaped the checkpoint, so a resume must keep it.
pub const RESUMABLE: [&str; 6] = ["epochs", "steps", "adapter", "adapter2", "data", "out"];

impl TrainConfig {
    /// The first setting outside [`RESUMABLE`] in which `self` differs from `recorded` (a
    /// config as JSON, as a checkpoint records it): its name, then the recorded value and
    /// this one's.
    pub fn differs_from(&self, recorded: &serde_json::Value) -> Option<(String, String, String)> {
        // Through the text form, as the checkpoint holds it: an f32 read back from JSON is
        // the shortest decimal (0.05), while to_value widens it (0.05000000074505806).
        let text = serde_json::to_string(self).expect("a config serialises");
        let mine: serde_json::Value = serde_json::from_str(&text).expect("a config parses");
        let (serde_json::Value::Object(mine), serde_json::Value::Object(theirs)) =
            (&mine, recorded)
        else {
            return Some((
                "(the whole configuration)".into(),
                recorded.to_string(),
                mine.to_string(),
            ));
        };
        let null = serde_json::Value::Null;
        let mut keys: Vec<&String> = mine.keys().chain(theirs.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter(|k| !RESUMABLE.contains(&k.as_str()))
            .find(|k| mine.get(*k).unwrap_or(&null) != theirs.get(*k).unwrap_or(&null))
            .map(|k| {
                let value = |m: &serde_json::Map<String, serde_json::Value>| {
                    m.get(k).unwrap_or(&null).to_string()
                };
                (k.clone(), value(theirs), value(mine))
            })
    }

    /// Check settings that clap cannot, naming the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, want: &str, got: String| {
            Err(Error::Invalid(format!("{flag} must be {want}, got {got}")))
        };
        let positive = [
            ("--batch", Some(self.batch)),
            ("--epochs", Some(self.epochs)),
            ("--steps", self.steps),
            ("--train-limit", self.train_limit),
            ("--test-limit", self.test_limit),
            ("--val-split", self.val_split),
            ("--log-every", self.log_every),
            ("--checkpoint-every", self.checkpoint_every),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, v)| *v == Some(0)) {
            return bad(flag, "at least 1", "0".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("--lr", "a positive number", self.lr.to_string());
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return bad("--momentum", "in [0, 1)", self.momentum.to_string());
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "--wd",
                "a non-negative number",
                self.weight_decay.to_string(),
            );
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(
                "--label-smoothing",
                "in [0, 1)",
                self.label_smoothing.to_string(),
            );
        }
        self.optimizer.validate()?;
        crate::optim::bn_passes(&self.optimizer)?;
        if !(0.0..1.0).contains(&self.label_noise) {
            return bad("--label-noise", "in [0, 1)", self.label_noise.to_string());
        }
        if let Err(e) = parse_model(&self.model) {
            return Err(Error::Invalid(e));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("--dropout", "in [0, 1)", self.dropout.to_string());
        }
        if self.dropout > 0.0 && !self.model.starts_with("wrn") {
            return bad(
                "--dropout",
                "0 unless --model is a Wide ResNet (wrn-D-K), the model with dropout layers",
                format!("{} with --model {}", self.dropout, self.model),
            );
        }
        Ok(())
    }

    /// The base step's hyper-parameters in `epoch` (0-based).
    pub fn hyper(&self, epoch: usize) -> crate::kernels::sgd::SgdHyper {
        crate::kernels::sgd::SgdHyper {
            lr: self.lr_schedule.rate(self.lr, epoch, self.epochs),
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
        }
    }
}

/// `--model`: mlp, cnn or resnetN with N = 6n+2.
fn parse_model(s: &str) -> std::result::Result<String, String> {
    if s == "mlp" || s == "cnn" {
        return Ok(s.to_string());
    }
    if s.starts_with("resnet") {
        return crate::nn::resnets::resnet_depth(s)
            .map(|_| s.to_string())
            .map_err(|e| e.to_string());
    }
    if s.starts_with("wrn") {
        return crate::nn::resnets::wrn_size(s)
            .map(|_| s.to_string())
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "--model {s:?}: expected mlp, cnn, a ResNet such as resnet20 or a Wide ResNet such \
         as wrn-28-10"
    ))
}
