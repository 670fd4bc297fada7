//! Which optimizer a run uses, with its options, as `docs/algorithms.md` defines them.
//!
//! Every optimizer is a base SGD step (momentum, weight decay, Nesterov) fed with a gradient
//! taken somewhere other than at x. [`OptimizerConfig::stages`] says how many gradients a step
//! takes and which must wait for which: that is what the scheduler places, and what the
//! "gradient evaluations" and "sequential depth" metrics count.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The optimizers of `sampa train --optimizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// SGD with momentum: one gradient at x.
    Sgd,
    /// SAM: a gradient at x, then one at the perturbed point on the same batch.
    Sam,
    /// SAMPa-λ: the perturbed gradient and the look-ahead gradient, independent of each other.
    Sampa,
    /// RandSAM: one gradient at x plus a random direction of length ρ.
    #[value(name = "randsam")]
    #[serde(rename = "randsam")]
    RandSam,
    /// OptSAM: one gradient at x plus ρ times the previous step's normalised gradient.
    #[value(name = "optsam")]
    #[serde(rename = "optsam")]
    OptSam,
    /// SAM-db: the perturbation from the previous batch, the step's gradient on the new one.
    SamDb,
}

/// SAMPa's auxiliary point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LookaheadMode {
    /// The official code's full base-optimizer look-ahead: x − lr·(g_y + wd·x + μ·buf).
    Code,
    /// The paper's bare x − lr·g_y.
    Paper,
}

/// An optimizer and its options.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// Which optimizer.
    pub kind: OptimizerKind,
    /// Perturbation radius ρ.
    pub rho: f32,
    /// SAMPa's λ: the weight of the look-ahead gradient in the step.
    pub lambda: f32,
    /// ASAM's adaptive perturbation ρ·x²⊙g/‖|x|⊙g‖.
    pub adaptive: bool,
    /// USAM: ρ·g without the division by the norm.
    pub unnormalized: bool,
    /// SAMPa's look-ahead.
    pub lookahead: LookaheadMode,
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
        }
    }
}

/// The batch a gradient is taken on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The batch loaded for this step.
    Current,
    /// The previous step's batch (the current one on the first step).
    Previous,
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
        Ok(())
    }

    /// The gradients of one step, grouped in stages: a stage's gradients are independent of
    /// each other, and each stage needs the one before. Entries are the batch each gradient
    /// is taken on, in evaluator order.
    pub fn stages(&self) -> &'static [&'static [Which]] {
        use Which::*;
        match self.kind {
            OptimizerKind::Sgd | OptimizerKind::RandSam | OptimizerKind::OptSam => &[&[Current]],
            OptimizerKind::Sam => &[&[Current], &[Current]],
            OptimizerKind::SamDb => &[&[Previous], &[Current]],
            OptimizerKind::Sampa => &[&[Previous, Current]],
        }
    }

    /// Gradient evaluations per step.
    pub fn grads_per_step(&self) -> usize {
        self.stages().iter().map(|s| s.len()).sum()
    }

    /// Gradient evaluations that must run one after another in a step.
    pub fn depth(&self) -> usize {
        self.stages().len()
    }

    /// Whether a step uses the previous step's batch.
    pub fn uses_previous_batch(&self) -> bool {
        self.stages()
            .iter()
            .flat_map(|s| s.iter())
            .any(|w| *w == Which::Previous)
    }

    /// A short name for output: `sgd`, `sam`, `sampa-0.2`, ...
    pub fn label(&self) -> String {
        let base = match self.kind {
            OptimizerKind::Sgd => return "sgd".into(),
            OptimizerKind::Sam => "sam".to_string(),
            OptimizerKind::Sampa => format!("sampa-{}", self.lambda),
            OptimizerKind::RandSam => "randsam".into(),
            OptimizerKind::OptSam => "optsam".into(),
            OptimizerKind::SamDb => "sam-db".into(),
        };
        let mut s = format!("{base} (rho {}", self.rho);
        if self.adaptive {
            s.push_str(", adaptive");
        }
        if self.unnormalized {
            s.push_str(", unnormalized");
        }
        if self.kind == OptimizerKind::Sampa && self.lookahead == LookaheadMode::Paper {
            s.push_str(", paper look-ahead");
        }
        s + ")"
    }
}
