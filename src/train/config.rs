//! Every setting of a training run, saved as `config.json` so a run can be repeated.

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

/// A training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// `embedded`, or a directory of IDX, CIFAR or image-folder data.
    pub data: String,
    /// Side of the square image-folder images are resized to.
    pub image_size: usize,
    /// Model family (`mlp` or `cnn`).
    pub model: String,
    /// Hidden widths of the MLP.
    pub hidden: Vec<usize>,
    /// Passes over the training set.
    pub epochs: usize,
    /// Stop after this many optimizer steps, if set.
    pub steps: Option<usize>,
    /// Examples per batch.
    pub batch: usize,
    /// Base learning rate.
    pub lr: f32,
    /// Learning-rate schedule.
    pub lr_schedule: LrSchedule,
    /// SGD momentum.
    pub momentum: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// The optimizer and its options (SGD, SAM, SAMPa, ...).
    pub optimizer: super::OptimizerConfig,
    /// Where SAMPa's two gradients run.
    pub schedule: super::Schedule,
    /// The worker adapter of the dual schedule (as `--adapter2`).
    pub adapter2: Option<String>,
    /// Write `checkpoint.safetensors` every N steps (and always after each epoch).
    pub checkpoint_every: Option<usize>,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f32,
    /// Seed of initialisation, shuffling and augmentation.
    pub seed: u64,
    /// Shuffle each epoch.
    pub shuffle: bool,
    /// Use only the first N training examples.
    pub train_limit: Option<usize>,
    /// Normalise each channel by the training set's mean and standard deviation.
    pub normalize: bool,
    /// Random crops (padding 4) and horizontal flips.
    pub augment: bool,
    /// Starting parameters (safetensors), instead of the seeded init.
    pub init: Option<PathBuf>,
    /// Also log every N steps to metrics.jsonl.
    pub log_every: Option<usize>,
    /// Adapter selection (as `--adapter`).
    pub adapter: Option<String>,
    /// Output directory.
    pub out: PathBuf,
}
