//! VaSSO (Li and Giannakis, "Enhancing Sharpness-Aware Optimization Through Variance
//! Suppression", NeurIPS 2023): the perturbation follows d_t = (1 − θ)·d_{t−1} + θ·g_t, an
//! exponential average of the gradients it would have followed (d_{−1} = 0), so a noisy
//! minibatch gradient moves it less. A rule on the perturbation's direction, not an optimizer:
//! SAM averages its gradient at x, SAMPa its g_y (`--vasso-theta` with either). d is carried
//! from step to step and saved by checkpoints. With θ = 1 the average is the gradient itself,
//! to the bit, and the optimizer is its plain self.

use super::config::OptimizerConfig;
use super::program::Op;
use super::program::Vector::{self, Average};

/// The ops that give the perturbation's direction from gradient `g`, and the direction: none
/// and `g` itself without VaSSO, the average's update and the average with it.
pub fn direction(c: &OptimizerConfig, g: Vector) -> (Vec<Op>, Vector) {
    match c.vasso_theta {
        Some(theta) => (vec![Op::average(g, Average, theta)], Average),
        None => (Vec::new(), g),
    }
}

/// The vectors VaSSO adds to what a program carries.
pub fn carries(c: &OptimizerConfig) -> &'static [Vector] {
    match c.vasso_theta {
        Some(_) => &[Average],
        None => &[],
    }
}

/// The f64 reference: the perturbation's direction from gradient `g`, updating the average
/// `d` in place (as the GPU does: the old value scaled by 1 − θ, then θ·g added).
pub fn reference(c: &OptimizerConfig, d: &mut [f64], g: &[f64]) -> Vec<f64> {
    let Some(theta) = c.vasso_theta else {
        return g.to_vec();
    };
    let theta = theta as f64;
    for (d, g) in d.iter_mut().zip(g) {
        *d = (1.0 - theta) * *d + theta * g;
    }
    d.to_vec()
}
