//! f64 references of BatchNorm2d on `[m, c]` pixel-major tensors, written from the
//! definitions: statistics per channel over all rows, the biased variance, eps 1e-5.

use super::shape::{BnShape, EPS};

fn f(v: impl Into<f64>) -> f64 {
    v.into()
}

/// Per-channel mean and biased variance of `x`, `[rows, c]` pixel-major.
pub fn moments<T: Copy + Into<f64>>(c: usize, x: &[T]) -> (Vec<f64>, Vec<f64>) {
    moments_of(BnShape { m: x.len() / c, c }, x)
}

fn moments_of<T: Copy + Into<f64>>(s: BnShape, x: &[T]) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; s.c];
    for (i, &v) in x[..s.m * s.c].iter().enumerate() {
        mean[i % s.c] += f(v) / s.m as f64;
    }
    let mut var = vec![0.0; s.c];
    for (i, &v) in x[..s.m * s.c].iter().enumerate() {
        var[i % s.c] += (f(v) - mean[i % s.c]).powi(2) / s.m as f64;
    }
    (mean, var)
}

fn normalise<T: Copy + Into<f64>>(
    s: BnShape,
    x: &[T],
    gamma_beta: &[T],
    (mean, var): (&[f64], &[f64]),
    relu: bool,
) -> Vec<f64> {
    (0..s.m * s.c)
        .map(|i| {
            let c = i % s.c;
            let v = (f(x[i]) - mean[c]) / (var[c] + EPS as f64).sqrt() * f(gamma_beta[c])
                + f(gamma_beta[s.c + c]);
            if relu { v.max(0.0) } else { v }
        })
        .collect()
}

/// Training forward: (y, batch mean, biased batch variance); `gamma_beta` is γ then β.
pub fn reference_forward<T: Copy + Into<f64>>(
    s: BnShape,
    x: &[T],
    gamma_beta: &[T],
    relu: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mean, var) = moments_of(s, x);
    let y = normalise(s, x, gamma_beta, (&mean, &var), relu);
    (y, mean, var)
}

/// Evaluation forward with the running statistics `running` = `[mean (C), var (C), ...]`.
pub fn reference_eval<T: Copy + Into<f64>>(
    s: BnShape,
    x: &[T],
    gamma_beta: &[T],
    running: &[T],
    relu: bool,
) -> Vec<f64> {
    let mean: Vec<f64> = running[..s.c].iter().map(|&v| f(v)).collect();
    let var: Vec<f64> = running[s.c..2 * s.c].iter().map(|&v| f(v)).collect();
    normalise(s, x, gamma_beta, (&mean, &var), relu)
}

/// Training backward: (dx, dγ then dβ) from `dy`, gated by `mask > 0` where a mask is given.
pub fn reference_backward<T: Copy + Into<f64>>(
    s: BnShape,
    x: &[T],
    gamma_beta: &[T],
    dy: &[T],
    mask: Option<&[T]>,
) -> (Vec<f64>, Vec<f64>) {
    let (mean, var) = moments_of(s, x);
    let n = s.m * s.c;
    let d: Vec<f64> = (0..n)
        .map(|i| match mask {
            Some(m) if f(m[i]) <= 0.0 => 0.0,
            _ => f(dy[i]),
        })
        .collect();
    let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + EPS as f64).sqrt()).collect();
    let xhat = |i: usize| (f(x[i]) - mean[i % s.c]) * invstd[i % s.c];
    let mut grads = vec![0.0; 2 * s.c];
    for i in 0..n {
        grads[i % s.c] += d[i] * xhat(i);
        grads[s.c + i % s.c] += d[i];
    }
    let m = s.m as f64;
    let dx = (0..n)
        .map(|i| {
            let c = i % s.c;
            f(gamma_beta[c]) * invstd[c] / m * (m * d[i] - grads[s.c + c] - xhat(i) * grads[c])
        })
        .collect();
    (dx, grads)
}
