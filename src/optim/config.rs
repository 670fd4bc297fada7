//! Which optimizer a run uses, with its options, as `docs/src/design/algorithms.md` defines them. Each
//! optimizer's program (`super::program`) says what a step does with them.

use crate::error::{Error, Result};
use crate::kernels::perturb::Perturbation;
use crate::kernels::sgd::SgdHyper;
use serde::{Deserialize, Serialize};

mod variants;

// The command line's value lists come from these enums natively; the browser build has no clap.

/// The optimizers of `sampa train --optimizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// SGD with momentum: one gradient at x.
    Sgd,
    /// SAM: a gradient at x, then one at the perturbed point on the same batch.
    Sam,
    /// SAMPa-λ: the perturbed gradient and the look-ahead gradient, independent of each other.
    Sampa,
    /// RandSAM: one gradient at x plus a random direction of length ρ.
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "randsam"))]
    #[serde(rename = "randsam")]
    RandSam,
    /// OptSAM: one gradient at x plus ρ times the previous step's normalised gradient.
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "optsam"))]
    #[serde(rename = "optsam")]
    OptSam,
    /// SAM-db: the perturbation from the previous batch, the step's gradient on the new one.
    SamDb,
    /// GSAM: SAM's two gradients, the step taking the perturbed one less α times the part of
    /// the gradient at x orthogonal to it.
    Gsam,
    /// LookSAM: SAM every k-th step; between them one gradient plus the kept part of SAM's
    /// perturbed gradient orthogonal to it.
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "looksam"))]
    #[serde(rename = "looksam")]
    LookSam,
    /// AE-SAM: SAM only on steps whose gradient norm stands out from its running statistics,
    /// else one gradient.
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "aesam"))]
    #[serde(rename = "aesam")]
    AeSam,
    /// ESAM: SAM perturbing a random part of the tensors, its second gradient on the examples
    /// whose loss the perturbation raised most.
    Esam,
}

impl OptimizerKind {
    /// The name of `--optimizer`.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Sam => "sam",
            OptimizerKind::Sampa => "sampa",
            OptimizerKind::RandSam => "randsam",
            OptimizerKind::OptSam => "optsam",
            OptimizerKind::SamDb => "sam-db",
            OptimizerKind::Gsam => "gsam",
            OptimizerKind::LookSam => "looksam",
            OptimizerKind::AeSam => "aesam",
            OptimizerKind::Esam => "esam",
        }
    }
}

/// The base optimizers of `sampa train --base`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum BaseKind {
    /// SGD with momentum, weight decay and Nesterov (`torch.optim.SGD`).
    #[default]
    Sgd,
    /// Adam with L2 weight decay added to the gradient (`torch.optim.Adam`).
    Adam,
    /// AdamW: Adam with decoupled weight decay (`torch.optim.AdamW`).
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "adamw"))]
    #[serde(rename = "adamw")]
    AdamW,
}

impl BaseKind {
    /// Every base, in the order the command line lists them.
    pub const ALL: [BaseKind; 3] = [BaseKind::Sgd, BaseKind::Adam, BaseKind::AdamW];

    /// The name of `--base`.
    pub fn name(self) -> &'static str {
        match self {
            BaseKind::Sgd => "sgd",
            BaseKind::Adam => "adam",
            BaseKind::AdamW => "adamw",
        }
    }

    /// Parse a name of [`BaseKind::name`].
    pub fn parse(s: &str) -> std::result::Result<BaseKind, String> {
        BaseKind::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("expected sgd, adam or adamw, got {s:?}"))
    }

    /// Whether the base's step can also write SAMPa's next look-ahead point in the same pass
    /// (the recorder's rewrite).
    pub fn fuses_lookahead(self) -> bool {
        self == BaseKind::Sgd
    }
}

/// SAMPa's auxiliary point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum LookaheadMode {
    /// The official code's full base-optimizer look-ahead: where the base step would move x
    /// with g_y, its state read but not changed (SGD: x − lr·(g_y + wd·x + μ·buf)).
    Code,
    /// The paper's bare x − lr·g_y.
    Paper,
}

impl LookaheadMode {
    /// The look-ahead's hyper-parameters for a base step with `hyper`: the same (the code's
    /// look-ahead) or a bare gradient step (the paper's).
    pub fn hyper(self, hyper: SgdHyper) -> SgdHyper {
        match self {
            LookaheadMode::Code => hyper,
            LookaheadMode::Paper => SgdHyper {
                momentum: 0.0,
                weight_decay: 0.0,
                nesterov: false,
                ..hyper
            },
        }
    }
}

/// Which gradient pass of the program updates BatchNorm's running statistics
/// (`--bn-stats`); each optimizer has a default (`super::bn_passes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BnStats {
    /// The pass at x.
    #[serde(rename = "x")]
    X,
    /// The pass at the perturbed point x̃.
    #[serde(rename = "x~")]
    XTilde,
    /// SAMPa's pass at the look-ahead point y.
    #[serde(rename = "y")]
    Y,
    /// Every pass, in the program's order.
    #[serde(rename = "all")]
    All,
}

impl BnStats {
    /// The pass's name in the optimizer's program (`all` for every pass).
    pub fn name(self) -> &'static str {
        match self {
            BnStats::X => "x",
            BnStats::XTilde => "x~",
            BnStats::Y => "y",
            BnStats::All => "all",
        }
    }

    /// Parse `--bn-stats`.
    pub fn parse(s: &str) -> std::result::Result<BnStats, String> {
        [BnStats::X, BnStats::XTilde, BnStats::Y, BnStats::All]
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("expected a pass name (x, x~ or y) or all, got {s:?}"))
    }
}

/// Which parameters the perturbation moves (`--perturb-only`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum PerturbOnly {
    /// The normalisation layers' weights and biases (SAM-ON).
    Norm,
}

/// An optimizer and its options (the `sampa train` flags natively).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::Args))]
pub struct OptimizerConfig {
    /// Optimizer: sgd, sam (two gradients in sequence), sampa (two independent gradients),
    /// randsam, optsam (the naive parallel baselines) or sam-db (SAM's perturbation from the
    /// previous batch).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(
            id = "optimizer",
            long = "optimizer",
            value_name = "OPTIMIZER",
            value_enum,
            default_value = "sgd"
        )
    )]
    pub kind: OptimizerKind,
    /// Perturbation radius ρ of every SAM variant.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, default_value_t = 0.05, allow_negative_numbers = true)
    )]
    pub rho: f32,
    /// SAMPa's λ in [0, 1]: the weight of the look-ahead gradient in the step.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, default_value_t = 0.2, allow_negative_numbers = true)
    )]
    pub lambda: f32,
    /// ASAM: the adaptive perturbation ρ·x²⊙g/‖|x|⊙g‖ (use a ρ about 10x larger).
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub adaptive: bool,
    /// USAM: perturb by ρ·g, without dividing by the norm.
    #[cfg_attr(not(target_arch = "wasm32"), arg(long))]
    pub unnormalized: bool,
    /// SAMPa's auxiliary point: `code` (the official code's full base-optimizer look-ahead)
    /// or `paper` (x − lr·g_y).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(
            id = "sampa_lookahead",
            long = "sampa-lookahead",
            value_name = "SAMPA_LOOKAHEAD",
            value_enum,
            default_value = "code"
        )
    )]
    pub lookahead: LookaheadMode,
    /// Which gradient pass updates BatchNorm's running statistics: a pass name of the
    /// optimizer's program (x, x~, y) or all. Default: SGD's pass; SAM's and SAM-db's pass at
    /// x; SAMPa's pass at y; RandSAM's and OptSAM's one pass (x~).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, value_name = "PASS", value_parser = BnStats::parse)
    )]
    #[serde(default)]
    pub bn_stats: Option<BnStats>,
    /// The base optimizer every variant's step ends with: sgd (--momentum, --nesterov), adam
    /// (L2 weight decay added to the gradient) or adamw (decoupled weight decay); --wd is
    /// each one's own weight decay.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(
            id = "base",
            long = "base",
            value_name = "BASE",
            value_enum,
            default_value = "sgd"
        )
    )]
    #[serde(default)]
    pub base: BaseKind,
    /// Adam's and AdamW's β1,β2: the decay rates of the gradient's first and second moments.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, value_name = "B1,B2", value_parser = parse_betas, default_value = "0.9,0.999")
    )]
    #[serde(default = "default_betas")]
    pub betas: [f32; 2],
    /// Adam's and AdamW's eps, added to the second moment's root.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, default_value_t = 1e-8, allow_negative_numbers = true)
    )]
    #[serde(default = "default_eps")]
    pub eps: f32,
    /// Clip the gradient the base step takes (SAM's perturbed gradient, SAMPa's mix, SGD's
    /// gradient) to this global norm, as torch.nn.utils.clip_grad_norm_; the gradient that
    /// sets the perturbation is never clipped.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, value_name = "C", allow_negative_numbers = true)
    )]
    #[serde(default)]
    pub clip_norm: Option<f32>,
    /// Exempt from --wd the tensors timm's and Hugging Face's fine-tuning recipes exempt:
    /// every bias, every tensor of one dimension (normalisation weights) and the ViT's
    /// `pos_embed` and `cls_token`.
    #[cfg_attr(not(target_arch = "wasm32"), arg(long = "no-wd-1d"))]
    #[serde(default)]
    pub no_wd_1d: bool,
    /// VaSSO's θ in (0, 1] (Li and Giannakis, 2023), for sam and sampa: perturb along
    /// d_t = (1 − θ)·d_{t−1} + θ·g_t, an average of the perturbation's gradients over steps,
    /// instead of g_t alone (SAMPa's g_y plays g's part); θ = 1 is the optimizer's own
    /// perturbation.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, value_name = "THETA", allow_negative_numbers = true)
    )]
    #[serde(default)]
    pub vasso_theta: Option<f32>,
    /// GSAM's α ≥ 0 (Zhuang et al., 2022), for gsam only: how much of the gradient at x
    /// orthogonal to the perturbed gradient the step takes away (default 0.1; 0 is SAM).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, value_name = "ALPHA", allow_negative_numbers = true)
    )]
    #[serde(default)]
    pub gsam_alpha: Option<f32>,
    /// SAM-ON (Mueller et al., 2023), for sam and sampa: `norm` perturbs only the
    /// normalisation layers' weights and biases, by ρ·g_N/‖g_N‖ with g_N the gradient's part
    /// on them, and leaves every other parameter where it is.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, value_name = "PARAMS", value_enum)
    )]
    #[serde(default)]
    pub perturb_only: Option<PerturbOnly>,
    /// LookSAM's k ≥ 1, for looksam only: a SAM step every k steps, the first included
    /// (default 5; 1 is SAM).
    #[cfg_attr(not(target_arch = "wasm32"), arg(long, value_name = "K"))]
    #[serde(default)]
    pub looksam_k: Option<usize>,
    /// LookSAM's α ≥ 0, for looksam only: the weight of the kept direction between SAM steps
    /// (default 0.7).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, value_name = "ALPHA", allow_negative_numbers = true)
    )]
    #[serde(default)]
    pub looksam_alpha: Option<f32>,
    /// AE-SAM's c at the run's first step, for aesam only (default −1): a step is a SAM step
    /// when ‖g‖² ≥ its running mean + c·its running standard deviation.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, value_name = "C0", allow_negative_numbers = true)
    )]
    #[serde(default)]
    pub aesam_c0: Option<f32>,
    /// AE-SAM's c at the run's last step, for aesam only (default 1); c moves linearly from
    /// c0 to c1.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, value_name = "C1", allow_negative_numbers = true)
    )]
    #[serde(default)]
    pub aesam_c1: Option<f32>,
    /// ESAM's β in (0, 1], for esam only: the probability of perturbing each parameter tensor
    /// (default 0.6; 1 perturbs all, as SAM).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, value_name = "BETA", allow_negative_numbers = true)
    )]
    #[serde(default)]
    pub esam_beta: Option<f32>,
    /// ESAM's γ in (0, 1], for esam only: the fraction of the batch, those whose loss the
    /// perturbation raised most, that the second gradient takes (default 0.5; 1 is all, as SAM).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        arg(long, value_name = "GAMMA", allow_negative_numbers = true)
    )]
    #[serde(default)]
    pub esam_gamma: Option<f32>,
    /// m-sharpness, for sam and sampa: split each batch into groups of M consecutive
    /// examples, each perturbed by its own gradient (SAMPa's: its own g_y), and step with the
    /// mean of the groups' perturbed gradients (google-research/sam's inner_group_size; M
    /// must divide --batch).
    #[cfg_attr(not(target_arch = "wasm32"), arg(long, value_name = "M"))]
    #[serde(default)]
    pub m_sharpness: Option<usize>,
}

/// GSAM's α when `--gsam-alpha` is not given.
pub const DEFAULT_GSAM_ALPHA: f32 = 0.1;

fn default_betas() -> [f32; 2] {
    [0.9, 0.999]
}

fn default_eps() -> f32 {
    1e-8
}

/// Parse `--betas B1,B2`.
pub fn parse_betas(s: &str) -> std::result::Result<[f32; 2], String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let parsed: Vec<f32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    match parsed[..] {
        [b1, b2] if parts.len() == 2 => Ok([b1, b2]),
        _ => Err(format!(
            "expected two numbers B1,B2 such as 0.9,0.999, got {s:?}"
        )),
    }
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            kind: OptimizerKind::Sgd,
            rho: 0.05,
            lambda: 0.2,
            adaptive: false,
            unnormalized: false,
            lookahead: LookaheadMode::Code,
            bn_stats: None,
            base: BaseKind::Sgd,
            betas: default_betas(),
            eps: default_eps(),
            clip_norm: None,
            no_wd_1d: false,
            vasso_theta: None,
            gsam_alpha: None,
            perturb_only: None,
            looksam_k: None,
            looksam_alpha: None,
            aesam_c0: None,
            aesam_c1: None,
            esam_beta: None,
            esam_gamma: None,
            m_sharpness: None,
        }
    }
}

impl OptimizerConfig {
    /// Check the options, naming the flag.
    pub fn validate(&self) -> Result<()> {
        if !(self.rho.is_finite() && self.rho >= 0.0) {
            return Err(Error::Invalid(format!(
                "--rho must be a non-negative finite number, got {}",
                self.rho
            )));
        }
        if !(0.0..=1.0).contains(&self.lambda) {
            return Err(Error::Invalid(format!(
                "--lambda must be in [0, 1], got {}",
                self.lambda
            )));
        }
        if !self
            .betas
            .iter()
            .all(|b| b.is_finite() && (0.0..1.0).contains(b))
        {
            return Err(Error::Invalid(format!(
                "--betas must be two numbers in [0, 1), got {},{}",
                self.betas[0], self.betas[1]
            )));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::Invalid(format!(
                "--eps must be a positive number, got {}",
                self.eps
            )));
        }
        if let Some(c) = self.clip_norm.filter(|c| !(c.is_finite() && *c > 0.0)) {
            return Err(Error::Invalid(format!(
                "--clip-norm must be a positive number, got {c}"
            )));
        }
        if let Some(theta) = self.vasso_theta {
            if !(theta > 0.0 && theta <= 1.0) {
                return Err(Error::Invalid(format!(
                    "--vasso-theta must be in (0, 1], got {theta}"
                )));
            }
            if !matches!(self.kind, OptimizerKind::Sam | OptimizerKind::Sampa) {
                return Err(Error::Invalid(format!(
                    "--vasso-theta applies to --optimizer sam and sampa, whose perturbation \
                     follows a gradient; {} has none to average",
                    self.kind.name()
                )));
            }
        }
        if self.perturb_only.is_some()
            && !matches!(self.kind, OptimizerKind::Sam | OptimizerKind::Sampa)
        {
            return Err(Error::Invalid(format!(
                "--perturb-only applies to --optimizer sam and sampa, not {}",
                self.kind.name()
            )));
        }
        self.validate_variants()?;
        if let Some(m) = self.m_sharpness {
            if m == 0 {
                return Err(Error::Invalid(
                    "--m-sharpness must be at least 1 (examples per group), got 0".into(),
                ));
            }
            if !matches!(self.kind, OptimizerKind::Sam | OptimizerKind::Sampa) {
                return Err(Error::Invalid(format!(
                    "--m-sharpness applies to --optimizer sam and sampa, not {}",
                    self.kind.name()
                )));
            }
            if self.vasso_theta.is_some() {
                return Err(Error::Invalid(
                    "--m-sharpness does not combine with --vasso-theta (one average over \
                     groups of different batches is not defined); leave one out"
                        .into(),
                ));
            }
        }
        if let Some(alpha) = self.gsam_alpha {
            if !(alpha.is_finite() && alpha >= 0.0) {
                return Err(Error::Invalid(format!(
                    "--gsam-alpha must be a non-negative number, got {alpha}"
                )));
            }
            if self.kind != OptimizerKind::Gsam {
                return Err(Error::Invalid(format!(
                    "--gsam-alpha applies to --optimizer gsam only, not {}",
                    self.kind.name()
                )));
            }
        }
        Ok(())
    }

    /// GSAM's α: `--gsam-alpha`, else its default.
    pub fn gsam_alpha(&self) -> f32 {
        self.gsam_alpha.unwrap_or(DEFAULT_GSAM_ALPHA)
    }

    /// The perturbation the options ask for.
    pub fn perturbation(&self) -> Perturbation {
        Perturbation {
            rho: self.rho,
            normalized: !self.unnormalized,
            adaptive: self.adaptive,
        }
    }

    /// A short name for output: `sgd`, `sam`, `sampa-0.2`, ...
    pub fn label(&self) -> String {
        let spared = match self.no_wd_1d {
            true => ", no weight decay on 1-D tensors",
            false => "",
        };
        let variant = match self.kind {
            OptimizerKind::Sgd if spared.is_empty() => return self.base.name().into(),
            OptimizerKind::Sgd => return format!("{} ({})", self.base.name(), &spared[2..]),
            OptimizerKind::Sampa => format!("sampa-{}", self.lambda),
            kind => kind.name().to_string(),
        };
        let mut s = match self.base {
            BaseKind::Sgd => format!("{variant} (rho {}", self.rho),
            base => format!("{}+{variant} (rho {}", base.name(), self.rho),
        };
        if self.adaptive {
            s.push_str(", adaptive");
        }
        if self.unnormalized {
            s.push_str(", unnormalized");
        }
        if let Some(theta) = self.vasso_theta {
            s.push_str(&format!(", VaSSO θ {theta}"));
        }
        match self.kind {
            OptimizerKind::Gsam => s.push_str(&format!(", α {}", self.gsam_alpha())),
            OptimizerKind::LookSam => {
                let (k, alpha) = self.looksam();
                s.push_str(&format!(", k {k}, α {alpha}"));
            }
            OptimizerKind::AeSam => {
                let [c0, c1] = self.aesam();
                s.push_str(&format!(", c {c0} to {c1}"));
            }
            OptimizerKind::Esam => {
                let [beta, gamma] = self.esam();
                s.push_str(&format!(", β {beta}, γ {gamma}"));
            }
            _ => {}
        }
        if let Some(m) = self.m_sharpness {
            s.push_str(&format!(", m {m}"));
        }
        if self.perturb_only == Some(PerturbOnly::Norm) {
            s.push_str(", normalisation layers only");
        }
        s.push_str(spared);
        if self.kind == OptimizerKind::Sampa && self.lookahead == LookaheadMode::Paper {
            s.push_str(", paper look-ahead");
        }
        s + ")"
    }
}
