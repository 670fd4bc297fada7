//! The options of the variants that skip or trim SAM's work (LookSAM, AE-SAM, ESAM): their
//! defaults, and the checks that each flag comes with its own optimizer and in its range. They
//! live beside the options, not in the variants' modules, which import the options.

use super::{OptimizerConfig, OptimizerKind};
use crate::error::{Error, Result};

/// LookSAM's k and α when `--looksam-k` and `--looksam-alpha` are not given.
const DEFAULT_LOOKSAM: (usize, f32) = (5, 0.7);

/// AE-SAM's c0 and c1 when `--aesam-c0` and `--aesam-c1` are not given.
const DEFAULT_AESAM_C: [f32; 2] = [-1.0, 1.0];

/// ESAM's β and γ when `--esam-beta` and `--esam-gamma` are not given.
const DEFAULT_ESAM: [f32; 2] = [0.6, 0.5];

impl OptimizerConfig {
    /// LookSAM's k and α: the flags, else the defaults.
    pub fn looksam(&self) -> (usize, f32) {
        (
            self.looksam_k.unwrap_or(DEFAULT_LOOKSAM.0),
            self.looksam_alpha.unwrap_or(DEFAULT_LOOKSAM.1),
        )
    }

    /// AE-SAM's c0 and c1: the flags, else the defaults.
    pub fn aesam(&self) -> [f32; 2] {
        [
            self.aesam_c0.unwrap_or(DEFAULT_AESAM_C[0]),
            self.aesam_c1.unwrap_or(DEFAULT_AESAM_C[1]),
        ]
    }

    /// ESAM's β and γ: the flags, else the defaults.
    pub fn esam(&self) -> [f32; 2] {
        [
            self.esam_beta.unwrap_or(DEFAULT_ESAM[0]),
            self.esam_gamma.unwrap_or(DEFAULT_ESAM[1]),
        ]
    }

    /// Check the flags of LookSAM, AE-SAM and ESAM, naming them: each only with its optimizer,
    /// and in its range.
    pub(super) fn validate_variants(&self) -> Result<()> {
        let only = |flag: &str, kind: OptimizerKind| {
            Err(Error::Invalid(format!(
                "{flag} applies to --optimizer {} only, not {}",
                kind.name(),
                self.kind.name()
            )))
        };
        let looksam = [
            ("--looksam-k", self.looksam_k.is_some()),
            ("--looksam-alpha", self.looksam_alpha.is_some()),
        ];
        let aesam = [
            ("--aesam-c0", self.aesam_c0.is_some()),
            ("--aesam-c1", self.aesam_c1.is_some()),
        ];
        let esam = [
            ("--esam-beta", self.esam_beta.is_some()),
            ("--esam-gamma", self.esam_gamma.is_some()),
        ];
        for (flags, kind) in [
            (looksam, OptimizerKind::LookSam),
            (aesam, OptimizerKind::AeSam),
            (esam, OptimizerKind::Esam),
        ] {
            if let Some((flag, _)) = flags.iter().find(|(_, given)| *given)
                && self.kind != kind
            {
                return only(flag, kind);
            }
        }
        if self.looksam_k == Some(0) {
            return Err(Error::Invalid(
                "--looksam-k must be at least 1 (a SAM step every k steps; 1 is SAM), got 0".into(),
            ));
        }
        if let Some(a) = self.looksam_alpha.filter(|a| !(a.is_finite() && *a >= 0.0)) {
            return Err(Error::Invalid(format!(
                "--looksam-alpha must be a non-negative number, got {a}"
            )));
        }
        for (flag, v) in [("--aesam-c0", self.aesam_c0), ("--aesam-c1", self.aesam_c1)] {
            if let Some(v) = v.filter(|v| !v.is_finite()) {
                return Err(Error::Invalid(format!("{flag} must be a number, got {v}")));
            }
        }
        for (flag, v) in [
            ("--esam-beta", self.esam_beta),
            ("--esam-gamma", self.esam_gamma),
        ] {
            if let Some(v) = v.filter(|v| !(*v > 0.0 && *v <= 1.0)) {
                return Err(Error::Invalid(format!(
                    "{flag} must be in (0, 1] (a probability; 1 is SAM's), got {v}"
                )));
            }
        }
        if self.kind == OptimizerKind::Esam && self.adaptive {
            return Err(Error::Invalid(
                "--adaptive does not combine with --optimizer esam, whose perturbation divides \
                 by the plain gradient's norm; leave one out"
                    .into(),
            ));
        }
        Ok(())
    }
}
