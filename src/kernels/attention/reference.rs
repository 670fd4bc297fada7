//! Attention's core in f64, written from the definition with the layouts of `super`.

use super::shape::AttnShape;
use crate::kernels::dropout;

/// Dropout on the probabilities, as `kernels::dropout` draws it: the pass's key, the site and
/// the rate.
pub type ProbsDropout = Option<(u32, u32, f32)>;

/// Queries' (0), keys' (1) or values' (2) feature `f` of head `h`, token `i`, example `b`.
fn at(s: AttnShape, part: usize, (b, h, i, f): (usize, usize, usize, usize)) -> usize {
    let w = s.width();
    ((b * s.tokens + i) * 3 + part) * w + h * s.head_dim + f
}

/// `(probs, out)` from `qkv`.
pub fn reference_forward<T: Copy + Into<f64>>(s: AttnShape, qkv: &[T]) -> (Vec<f64>, Vec<f64>) {
    reference_forward_masked(s, qkv, None)
}

/// `(probs, out)` from `qkv`, example b's key j left out where `mask[b·tokens + j]` is 0 (as
/// Hugging Face's BERT: its additive mask of the lowest finite value makes those
/// probabilities 0).
pub fn reference_forward_masked<T: Copy + Into<f64>>(
    s: AttnShape,
    qkv: &[T],
    mask: Option<&[f64]>,
) -> (Vec<f64>, Vec<f64>) {
    reference_forward_dropped(s, qkv, mask, None)
}

/// [`reference_forward_masked`] with dropout on the probabilities before they weigh the
/// values (Hugging Face's `attention_probs_dropout_prob`); `probs` is the softmax's output
/// before dropout.
pub fn reference_forward_dropped<T: Copy + Into<f64>>(
    s: AttnShape,
    qkv: &[T],
    mask: Option<&[f64]>,
    drop: ProbsDropout,
) -> (Vec<f64>, Vec<f64>) {
    let kept = |b: usize, j: usize| mask.is_none_or(|m| m[b * s.tokens + j] != 0.0);
    let qkv: Vec<f64> = qkv.iter().map(|&v| v.into()).collect();
    let (t, d) = (s.tokens, s.head_dim);
    let mut probs = vec![0.0; s.probs_len()];
    for b in 0..s.batch {
        for h in 0..s.heads {
            for i in 0..t {
                let row = &mut probs[((b * s.heads + h) * t + i) * t..][..t];
                for (j, v) in row.iter_mut().enumerate() {
                    let dot: f64 = (0..d)
                        .map(|f| qkv[at(s, 0, (b, h, i, f))] * qkv[at(s, 1, (b, h, j, f))])
                        .sum();
                    *v = if kept(b, j) {
                        s.scale() * dot
                    } else {
                        f64::NEG_INFINITY
                    };
                }
                let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
                for v in row.iter_mut() {
                    *v = (*v - max).exp() / sum;
                }
            }
        }
    }
    let out = weigh_values(s, &dropped(&probs, drop), &qkv);
    (probs, out)
}

/// The probabilities as dropout leaves them.
fn dropped(probs: &[f64], drop: ProbsDropout) -> Vec<f64> {
    match drop {
        Some((key, site, rate)) => dropout::reference(probs, key, site, rate),
        None => probs.to_vec(),
    }
}

/// out = P·V per example and head.
fn weigh_values(s: AttnShape, p: &[f64], qkv: &[f64]) -> Vec<f64> {
    let (t, d, w) = (s.tokens, s.head_dim, s.width());
    let mut out = vec![0.0; s.out_len()];
    for b in 0..s.batch {
        for h in 0..s.heads {
            for i in 0..t {
                let row = &p[((b * s.heads + h) * t + i) * t..][..t];
                for f in 0..d {
                    out[(b * t + i) * w + h * d + f] =
                        (0..t).map(|j| row[j] * qkv[at(s, 2, (b, h, j, f))]).sum();
                }
            }
        }
    }
    out
}

/// dqkv from `qkv` and `dout`.
pub fn reference_backward<T: Copy + Into<f64>>(s: AttnShape, qkv: &[T], dout: &[T]) -> Vec<f64> {
    reference_backward_masked(s, qkv, dout, None)
}

/// dqkv from `qkv` and `dout`, with the forward's key mask.
pub fn reference_backward_masked<T: Copy + Into<f64>>(
    s: AttnShape,
    qkv: &[T],
    dout: &[T],
    mask: Option<&[f64]>,
) -> Vec<f64> {
    reference_backward_dropped(s, qkv, dout, (mask, None))
}

/// dqkv from `qkv` and `dout`, with the forward's key mask and dropout.
pub fn reference_backward_dropped<T: Copy + Into<f64>>(
    s: AttnShape,
    qkv: &[T],
    dout: &[T],
    (mask, drop): (Option<&[f64]>, ProbsDropout),
) -> Vec<f64> {
    let (probs, _) = reference_forward_masked(s, qkv, mask);
    let pd = dropped(&probs, drop);
    let qkv: Vec<f64> = qkv.iter().map(|&v| v.into()).collect();
    let dout: Vec<f64> = dout.iter().map(|&v| v.into()).collect();
    let (t, d, w) = (s.tokens, s.head_dim, s.width());
    // dP (with respect to the dropped probabilities) = dO·Vᵀ, then through the dropout.
    let mut dp = vec![0.0; s.probs_len()];
    for b in 0..s.batch {
        for h in 0..s.heads {
            for i in 0..t {
                for j in 0..t {
                    dp[((b * s.heads + h) * t + i) * t + j] = (0..d)
                        .map(|f| dout[(b * t + i) * w + h * d + f] * qkv[at(s, 2, (b, h, j, f))])
                        .sum();
                }
            }
        }
    }
    let dp = dropped(&dp, drop);
    let mut dqkv = vec![0.0; s.qkv_len()];
    for b in 0..s.batch {
        for h in 0..s.heads {
            let base = (b * s.heads + h) * t * t;
            let (p, pd, dp) = (&probs[base..][..t * t], &pd[base..][..t * t], &dp[base..]);
            let dout_at = |i: usize, f: usize| dout[(b * t + i) * w + h * d + f];
            for i in 0..t {
                // dS[i, j] = P[i, j]·(dP[i, j] − Σ_j P·dP).
                let mean: f64 = (0..t).map(|j| p[i * t + j] * dp[i * t + j]).sum();
                for j in 0..t {
                    let ds = p[i * t + j] * (dp[i * t + j] - mean) * s.scale();
                    for f in 0..d {
                        dqkv[at(s, 0, (b, h, i, f))] += ds * qkv[at(s, 1, (b, h, j, f))];
                        dqkv[at(s, 1, (b, h, j, f))] += ds * qkv[at(s, 0, (b, h, i, f))];
                        dqkv[at(s, 2, (b, h, j, f))] += pd[i * t + j] * dout_at(i, f);
                    }
                }
            }
        }
    }
    dqkv
}
