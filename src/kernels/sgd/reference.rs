//! The f64 references of the SGD step and the look-ahead (PyTorch semantics), which the
//! kernels' tests and the optimizers' references follow.

use super::hyper::SgdHyper;
use crate::kernels::decay::{DecayMask, decay_at};

/// CPU f64 reference of one step, updating `x` and `buf` in place; with `decay`, weight decay
/// applies only where its bits are set.
pub fn reference_step(
    hyper: SgdHyper,
    first: bool,
    grad: &[f64],
    (x, buf): (&mut [f64], &mut [f64]),
    decay: Option<&DecayMask>,
) {
    let (lr, mu, wd) = (
        hyper.lr as f64,
        hyper.momentum as f64,
        hyper.weight_decay as f64,
    );
    for i in 0..x.len() {
        let d = grad[i] + decay_at(decay, i, wd) * x[i];
        buf[i] = if first { d } else { mu * buf[i] + d };
        let step = if hyper.nesterov {
            d + mu * buf[i]
        } else {
            buf[i]
        };
        x[i] -= lr * step;
    }
}

/// CPU f64 reference of the look-ahead: where [`reference_step`] would move `x`.
pub fn reference_lookahead(
    hyper: SgdHyper,
    first: bool,
    grad: &[f64],
    (x, buf): (&[f64], &[f64]),
    decay: Option<&DecayMask>,
) -> Vec<f64> {
    let (mut y, mut b) = (x.to_vec(), buf.to_vec());
    reference_step(hyper, first, grad, (&mut y, &mut b), decay);
    y
}
