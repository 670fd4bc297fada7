//! The f64 references of the Adam step and its look-ahead (PyTorch semantics), which the
//! kernel's tests and the optimizers' references follow.

use super::hyper::AdamHyper;
use crate::kernels::decay::{DecayMask, decay_at};

/// CPU f64 reference of step `t` (counted from 1), updating `x`, `m` and `v` in place; with
/// `decay`, weight decay applies only where its bits are set.
pub fn reference_step(
    hyper: AdamHyper,
    t: usize,
    grad: &[f64],
    (x, [m, v]): (&mut [f64], [&mut [f64]; 2]),
    decay: Option<&DecayMask>,
) {
    let (lr, wd, eps) = (hyper.lr as f64, hyper.weight_decay as f64, hyper.eps as f64);
    let (b1, b2) = (hyper.betas[0] as f64, hyper.betas[1] as f64);
    let bc1 = 1.0 - b1.powi(t as i32);
    let bc2 = 1.0 - b2.powi(t as i32);
    for i in 0..x.len() {
        let (mut g, wd) = (grad[i], decay_at(decay, i, wd));
        if hyper.decoupled {
            x[i] *= 1.0 - lr * wd;
        } else {
            g += wd * x[i];
        }
        m[i] = b1 * m[i] + (1.0 - b1) * g;
        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
        x[i] -= lr * (m[i] / bc1) / ((v[i] / bc2).sqrt() + eps);
    }
}

/// CPU f64 reference of the look-ahead: where [`reference_step`] would move `x` at step `t`,
/// the moments left as they are.
pub fn reference_lookahead(
    hyper: AdamHyper,
    t: usize,
    grad: &[f64],
    (x, [m, v]): (&[f64], [&[f64]; 2]),
    decay: Option<&DecayMask>,
) -> Vec<f64> {
    let (mut y, mut m, mut v) = (x.to_vec(), m.to_vec(), v.to_vec());
    reference_step(hyper, t, grad, (&mut y, [&mut m, &mut v]), decay);
    y
}
