//! Every setting of a training run: the `sampa train` flags (clap derives them from this
//! struct) and `config.json` (serde writes it), so a run can be repeated or resumed.

use crate::data::DEFAULT_DATA_DIR;
use crate::error::{Error, Result};
use crate::kernels::Kernels;
use crate::optim::OptimizerConfig;
use crate::train::Schedule;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use crate::optim::lr::LrSchedule;

/// The data a run reads when `--data` is not given.
fn default_data() -> String {
    if std::path::Path::new(DEFAULT_DATA_DIR).is_dir() {
        DEFAULT_DATA_DIR.to_string()
    } else {
        "embedded".to_string()
    }
}

fn default_gamma() -> f32 {
    0.2
}

/// SGD's momentum when --momentum is not given.
pub const DEFAULT_MOMENTUM: f32 = 0.9;

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
    /// Resize every image to SIDE×SIDE (bilinear). Default: image folders to 32×32, IDX and
    /// CIFAR images as they are.
    #[arg(long, value_name = "SIDE")]
    #[serde(default, rename = "resize_images")]
    pub image_size: Option<usize>,
    /// What config.json of an earlier build recorded as `image_size`: the side image folders
    /// (only they) were resized to. Read so that such a run resumes on the same images; never
    /// written.
    #[arg(skip)]
    #[serde(default, rename = "image_size", skip_serializing)]
    pub folder_size: Option<usize>,
    /// A GLUE task (cola, sst2, mrpc, qqp, mnli, qnli, rte, wnli): --data is then a folder of
    /// its train.tsv and dev.tsv (dev_matched.tsv for MNLI) as GLUE distributes them, the dev
    /// split serving as the test split, read through --tokenizer for a BERT --model.
    #[arg(long, value_name = "TASK")]
    #[serde(default)]
    pub task: Option<String>,
    /// With --task: the tokenizer, a Hugging Face tokenizer.json or a BERT vocab.txt.
    #[arg(long, value_name = "FILE")]
    #[serde(default, with = "crate::fsutil::path::option")]
    pub tokenizer: Option<PathBuf>,
    /// With --task: word pieces per example, `[CLS]` and `[SEP]` included; longer pairs lose
    /// their longer sentence's last pieces first (Hugging Face's longest_first).
    #[arg(long, value_name = "N", default_value_t = 128)]
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// With --task and a vocab.txt: keep case and accents (BERT's cased checkpoints);
    /// without it the text is lower-cased with accents stripped, as for uncased ones.
    #[arg(long)]
    #[serde(default)]
    pub cased: bool,
    /// Classes, when not the data format's own (10 for IDX and CIFAR-10, 100 for CIFAR-100,
    /// one per sub-folder for image folders). Every label must be below it.
    #[arg(long)]
    #[serde(default)]
    pub classes: Option<usize>,
    /// Model: `mlp` (hidden widths from --hidden), `cnn` (conv 32, conv 64, fc 128), a CIFAR
    /// ResNet `resnetN` with N = 6n+2 (resnet20, resnet32, resnet56), a Wide ResNet
    /// `wrn-D-K` (wrn-16-8, wrn-28-2, wrn-28-10), a VGG with BatchNorm on 32×32 images
    /// (vgg11-bn, vgg13-bn, vgg16-bn, vgg19-bn), a DenseNet (densenet121, densenet-cifar), or
    /// a Vision Transformer `vit-D-W-H-pP` (depth, width, heads, patch; vit-2-64-4-p7) or
    /// vit-tiny, vit-small, vit-base (patch 16); the ResNets, VGGs and DenseNets have BatchNorm.
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
    /// Learning-rate schedule after warm-up: constant, cosine (per epoch), linear (per step,
    /// to zero at the last step), cosine-step (per step) or step (--lr-gamma at each epoch of
    /// --lr-milestones).
    #[arg(long, value_enum, default_value = "constant")]
    pub lr_schedule: LrSchedule,
    /// Warm up over the first N steps: the rate of step s (from 0) is lr·(s+1)/N.
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub warmup_steps: Option<usize>,
    /// The epochs at which `--lr-schedule step` multiplies the rate by --lr-gamma, such as
    /// 60,120,160.
    #[arg(long, value_delimiter = ',', value_name = "EPOCHS")]
    #[serde(default)]
    pub lr_milestones: Vec<usize>,
    /// The factor of `--lr-schedule step` at each milestone.
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    #[serde(default = "default_gamma")]
    pub lr_gamma: f32,
    /// SGD's momentum (default 0.9); refused with --base adam or adamw.
    #[arg(long, allow_negative_numbers = true)]
    pub momentum: Option<f32>,
    /// Weight decay of the base optimizer: added to the gradient (sgd, adam) or decoupled
    /// (adamw).
    #[arg(long = "wd", default_value_t = 5e-4, allow_negative_numbers = true)]
    pub weight_decay: f32,
    /// SGD's Nesterov momentum; refused with --base adam or adamw.
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
    /// Data-parallel `--schedule mpi` runs: BatchNorm normalises with the whole batch's
    /// statistics, combined over the ranks at every BatchNorm of every pass (PyTorch's
    /// SyncBatchNorm), rather than with each rank's own shard's (DDP's default).
    #[arg(long)]
    #[serde(default)]
    pub sync_bn: bool,
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
    /// The dropout rate while training: Wide ResNets before each unit's second convolution
    /// (davda54's `--dropout`; default 0), BERTs where Hugging Face drops (the embeddings,
    /// the attention probabilities, each dense output before its residual, before the
    /// classifier; default 0.1, as its fine-tuning). Masks are drawn from --seed, the step and
    /// the gradient pass, so runs repeat and resume exactly.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(default)]
    pub dropout: Option<f32>,
    /// torchvision's ResNets: start each block's last BatchNorm at γ = 0 (torchvision's
    /// `zero_init_residual=True`, Goyal et al.'s large-batch recipe), so every block starts as
    /// its shortcut.
    #[arg(long)]
    #[serde(default)]
    pub zero_init_residual: bool,
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
    /// `true`: random crops (padding 4) and horizontal flips, on by default for CIFAR and image
    /// folders; `false`: none; `imagenet`: ImageNet's recipe for image folders, torchvision's
    /// RandomResizedCrop to --image-size and flips in training, the short side resized to
    /// 256/224 of it and the centre cropped in evaluation, normalised by ImageNet's mean and std.
    #[arg(long, value_parser = parse_augment)]
    pub augment: Option<Augment>,
    /// Image folders: threads that decode each batch (default: one per core).
    #[arg(long)]
    #[serde(default)]
    pub workers: Option<usize>,
    /// Cutout (16×16 squares with probability 1/2, after normalisation), the paper's recipe.
    #[arg(long)]
    #[serde(default)]
    pub cutout: bool,
    /// Start from these parameters (safetensors with PyTorch names) instead of the seeded init.
    /// A BERT's word and position tables take the file's sizes.
    #[arg(long)]
    #[serde(default, with = "crate::fsutil::path::option")]
    pub init: Option<PathBuf>,
    /// With --init: a new, seeded head (the model's last layer) for this data's classes in
    /// place of the file's, for fine-tuning on other data (timm's `num_classes=N`).
    #[arg(long)]
    #[serde(default)]
    pub reset_head: bool,
    /// Also log every N steps to metrics.jsonl (with SAM's family: the perturbation's
    /// gradient norm ‖g‖ and radius ‖ε‖).
    #[arg(long)]
    pub log_every: Option<usize>,
    /// SAMPa only: every N steps, one more gradient pass at x, and cos(∇f(x), ∇f(y)) and
    /// ‖∇f(x) − ∇f(y)‖ to metrics.jsonl and curves.png.
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub diagnose_every: Option<usize>,
    /// Adapter: index, backend or name substring (see `sampa devices`); else SAMPA_ADAPTER.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Output directory (default `runs/<UTC timestamp>`). It must not hold a run already.
    #[arg(long, default_value_os_t = default_out(), hide_default_value = true)]
    #[serde(with = "crate::fsutil::path")]
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

impl TrainConfig {
    /// The dropout rate: `--dropout`, else 0.1 for a BERT (Hugging Face's
    /// `hidden_dropout_prob`) and 0 for the rest.
    pub fn dropout_rate(&self) -> f32 {
        let default = if self.model.starts_with("bert") {
            0.1
        } else {
            0.0
        };
        self.dropout.unwrap_or(default)
    }

    /// Check settings that clap cannot, naming the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, want: &str, got: String| {
            Err(Error::Invalid(format!("{flag} must be {want}, got {got}")))
        };
        self.validate_text()?;
        let positive = [
            ("--batch", Some(self.batch)),
            ("--epochs", Some(self.epochs)),
            ("--steps", self.steps),
            ("--train-limit", self.train_limit),
            ("--test-limit", self.test_limit),
            ("--val-split", self.val_split),
            ("--log-every", self.log_every),
            ("--diagnose-every", self.diagnose_every),
            ("--checkpoint-every", self.checkpoint_every),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, v)| *v == Some(0)) {
            return bad(flag, "at least 1", "0".into());
        }
        if let Some(m) = self.optimizer.m_sharpness
            && m > 0
            && !self.batch.is_multiple_of(m)
        {
            return bad(
                "--m-sharpness",
                &format!("a divisor of --batch {}", self.batch),
                m.to_string(),
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("--lr", "a positive number", self.lr.to_string());
        }
        if let Some(m) = self
            .momentum
            .filter(|m| !(m.is_finite() && (0.0..1.0).contains(m)))
        {
            return bad("--momentum", "in [0, 1)", m.to_string());
        }
        let base = self.optimizer.base;
        if base != crate::optim::BaseKind::Sgd {
            let sgd_only = [
                ("--momentum", self.momentum.is_some()),
                ("--nesterov", self.nesterov),
            ];
            if let Some((flag, _)) = sgd_only.iter().find(|(_, given)| *given) {
                return Err(Error::Invalid(format!(
                    "{flag} applies to --base sgd only; {} keeps its own moments (see --betas)",
                    base.name()
                )));
            }
        }
        self.validate_schedule()?;
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
        if !(0.0..1.0).contains(&self.dropout_rate()) {
            return bad("--dropout", "in [0, 1)", self.dropout_rate().to_string());
        }
        if self.workers == Some(0) {
            return bad("--workers", "at least 1 decoding thread", "0".to_string());
        }
        if self.reset_head && self.init.is_none() {
            return Err(Error::Invalid(
                "--reset-head replaces the head of the file --init gives; add --init FILE (a \
                 pre-trained model.safetensors)"
                    .into(),
            ));
        }
        if self.sync_bn && self.schedule != Schedule::Mpi {
            return bad(
                "--sync-bn",
                "only with --schedule mpi, whose data-parallel ranks each hold a shard of the \
                 batch (one process already normalises the whole batch)",
                format!("--schedule {}", self.schedule.name()),
            );
        }
        if let (true, Some(m)) = (self.sync_bn, self.optimizer.m_sharpness) {
            return bad(
                "--sync-bn",
                "left out with --m-sharpness, whose groups each normalise by their own \
                 statistics",
                format!("--m-sharpness {m}"),
            );
        }
        if self.sync_bn && !crate::nn::Model::kind_has_batchnorm(&self.model) {
            return bad(
                "--sync-bn",
                "a model with BatchNorm (a ResNet, Wide ResNet, VGG or DenseNet), whose \
                 statistics it synchronises; leave --sync-bn out",
                format!("--model {}", self.model),
            );
        }
        if self.zero_init_residual
            && crate::nn::torchvision::torchvision_depth(&self.model).is_none()
        {
            return bad(
                "--zero-init-residual",
                "only with torchvision's ResNets (--model resnet18, resnet34, resnet50, resnet101 \
                 or resnet152), whose blocks end in the BatchNorm it zeroes",
                format!("--model {}", self.model),
            );
        }
        if let (true, Some(init)) = (self.zero_init_residual, &self.init) {
            return bad(
                "--zero-init-residual",
                "left out with --init, whose weights replace the initial ones it sets",
                format!("--init {}", init.display()),
            );
        }
        let with_dropout = ["wrn", "bert"].iter().any(|m| self.model.starts_with(m));
        if self.dropout_rate() > 0.0 && !with_dropout {
            return bad(
                "--dropout",
                "0 unless --model is a Wide ResNet (wrn-D-K) or a BERT, the models with \
                 dropout layers",
                format!("{} with --model {}", self.dropout_rate(), self.model),
            );
        }
        Ok(())
    }

    /// Check the schedule's flags against each other.
    fn validate_schedule(&self) -> Result<()> {
        if self.warmup_steps == Some(0) {
            return Err(Error::Invalid(
                "--warmup-steps must be at least 1 (leave it out for no warm-up), got 0".into(),
            ));
        }
        let step = self.lr_schedule == LrSchedule::Step;
        if step && self.lr_milestones.is_empty() {
            return Err(Error::Invalid(
                "--lr-schedule step needs --lr-milestones, the epochs at which the rate is \
                 multiplied by --lr-gamma (such as --lr-milestones 60,120,160)"
                    .into(),
            ));
        }
        if !step && !self.lr_milestones.is_empty() {
            return Err(Error::Invalid(
                "--lr-milestones applies to --lr-schedule step only".into(),
            ));
        }
        if !(self.lr_gamma.is_finite() && self.lr_gamma > 0.0) {
            return Err(Error::Invalid(format!(
                "--lr-gamma must be a positive number, got {}",
                self.lr_gamma
            )));
        }
        Ok(())
    }

    /// What every base step of the run takes but the rate.
    pub fn base_settings(&self) -> crate::optim::BaseSettings {
        crate::optim::BaseSettings {
            kind: self.optimizer.base,
            weight_decay: self.weight_decay,
            momentum: self.momentum.unwrap_or(DEFAULT_MOMENTUM),
            nesterov: self.nesterov,
            betas: self.optimizer.betas,
            eps: self.optimizer.eps,
        }
    }

    /// The rates of the run's steps, with `batches` batches per epoch: the run's total S is
    /// --steps when given, else epochs × batches.
    pub fn lr_plan(&self, batches: usize) -> crate::optim::lr::LrPlan {
        crate::optim::lr::LrPlan {
            lr: self.lr,
            schedule: self.lr_schedule,
            warmup: self.warmup_steps.unwrap_or(0),
            total: self.steps.unwrap_or(self.epochs * batches),
            epochs: self.epochs,
            milestones: self.lr_milestones.clone(),
            gamma: self.lr_gamma,
        }
    }
}

/// `--model`: mlp, cnn, resnetN with N = 6n+2, wrn-D-K, vggN-bn, densenet121,
/// densenet-cifar, vit-D-W-H-pP or a ViT preset.
/// `--augment`'s choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Augment {
    /// None.
    Off,
    /// CIFAR's: random crops of the image padded by 4, and horizontal flips.
    Crop,
    /// ImageNet's (image folders): random resized crops and flips; evaluation's centre crop.
    ImageNet,
}

fn parse_augment(s: &str) -> std::result::Result<Augment, String> {
    match s {
        "true" => Ok(Augment::Crop),
        "false" => Ok(Augment::Off),
        "imagenet" => Ok(Augment::ImageNet),
        _ => Err(format!(
            "expected true (random crops and flips), false or imagenet, got {s:?}"
        )),
    }
}

/// As config.json has always held it: `true` or `false`, and now `"imagenet"`.
impl serde::Serialize for Augment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Augment::Off => s.serialize_bool(false),
            Augment::Crop => s.serialize_bool(true),
            Augment::ImageNet => s.serialize_str("imagenet"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Augment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Form {
            Flag(bool),
            Name(String),
        }
        match Form::deserialize(d)? {
            Form::Flag(true) => Ok(Augment::Crop),
            Form::Flag(false) => Ok(Augment::Off),
            Form::Name(n) => parse_augment(&n).map_err(serde::de::Error::custom),
        }
    }
}

fn default_max_len() -> usize {
    128
}

fn parse_model(s: &str) -> std::result::Result<String, String> {
    if s == "mlp" || s == "cnn" {
        return Ok(s.to_string());
    }
    if crate::nn::torchvision::torchvision_depth(s).is_some() {
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
    if s.starts_with("vgg") {
        return crate::nn::vggs::vgg_depth(s)
            .map(|_| s.to_string())
            .map_err(|e| e.to_string());
    }
    if s.starts_with("densenet") {
        return crate::nn::densenets::DenseSpec::named(s)
            .map(|_| s.to_string())
            .map_err(|e| e.to_string());
    }
    if s.starts_with("vit") {
        return crate::nn::vits::VitSpec::named(s)
            .map(|_| s.to_string())
            .map_err(|e| e.to_string());
    }
    if s.starts_with("bert") {
        return crate::nn::berts::BertSpec::named(s)
            .map(|_| s.to_string())
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "--model {s:?}: expected mlp, cnn, a CIFAR ResNet such as resnet20, torchvision's \
         resnet18, resnet34 or resnet50, a Wide ResNet such as wrn-28-10, a VGG with BatchNorm such as vgg16-bn, densenet121 or densenet-cifar, \
         a ViT such as vit-2-64-4-p7 or vit-tiny, or a BERT such as bert-2-64-4 or bert-base"
    ))
}
