//! SAM-ON (Mueller et al., "Normalization Layers Are All That Sharpness-Aware Minimization
//! Needs", NeurIPS 2023; `--perturb-only norm`): the perturbation moves only the normalisation
//! layers' weights and biases, by ρ·g_N/‖g_N‖ where g_N is the direction's part on them, and
//! every other parameter stays at x. A rule on the perturbation's direction like VaSSO's, which
//! it follows when both are asked for (the average over every parameter, then its part on the
//! normalisation layers): with SAM and SAMPa.

use super::config::{OptimizerConfig, PerturbOnly};
use super::program::Op;
use super::program::Vector::{self, Masked};
use crate::nn::Model;

/// The ops that restrict the direction `d` to the normalisation layers, and the direction
/// they leave: none and `d` itself without `--perturb-only`.
pub fn direction(c: &OptimizerConfig, d: Vector) -> (Vec<Op>, Vector) {
    match c.perturb_only {
        Some(PerturbOnly::Norm) => (vec![Op::mask_norm(d, Masked)], Masked),
        None => (Vec::new(), d),
    }
}

/// The f64 reference: `d` with every element outside `model`'s normalisation layers zeroed,
/// when the options ask for it.
pub fn reference(c: &OptimizerConfig, model: &Model, mut d: Vec<f64>) -> Vec<f64> {
    if c.perturb_only == Some(PerturbOnly::Norm) {
        for (d, m) in d.iter_mut().zip(model.norm_mask()) {
            *d *= m as f64;
        }
    }
    d
}
