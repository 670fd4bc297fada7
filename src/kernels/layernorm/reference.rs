//! LayerNorm in f64, written from the definition (PyTorch's `nn.LayerNorm` semantics).

use super::shape::LnShape;

/// Each row's mean and 1/σ (biased variance plus eps).
fn row_stats(s: LnShape, row: &[f64]) -> (f64, f64) {
    let c = s.c as f64;
    let mean = row.iter().sum::<f64>() / c;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / c;
    (mean, 1.0 / (var + s.eps as f64).sqrt())
}

/// y = (x − mean)/σ · γ + β per row; `gamma_beta` holds γ then β.
pub fn reference_forward<T: Copy + Into<f64>>(s: LnShape, x: &[T], gamma_beta: &[T]) -> Vec<f64> {
    let x: Vec<f64> = x.iter().map(|&v| v.into()).collect();
    let gb: Vec<f64> = gamma_beta.iter().map(|&v| v.into()).collect();
    let mut y = Vec::with_capacity(s.rows * s.c);
    for row in x.chunks(s.c).take(s.rows) {
        let (mean, rstd) = row_stats(s, row);
        y.extend(
            row.iter()
                .enumerate()
                .map(|(c, v)| (v - mean) * rstd * gb[c] + gb[s.c + c]),
        );
    }
    y
}

/// dx and dγdβ (dγ then dβ) from dy.
pub fn reference_backward<T: Copy + Into<f64>>(
    s: LnShape,
    x: &[T],
    gamma_beta: &[T],
    dy: &[T],
) -> (Vec<f64>, Vec<f64>) {
    let x: Vec<f64> = x.iter().map(|&v| v.into()).collect();
    let dy: Vec<f64> = dy.iter().map(|&v| v.into()).collect();
    let gamma: Vec<f64> = gamma_beta[..s.c].iter().map(|&v| v.into()).collect();
    let c = s.c as f64;
    let mut dx = Vec::with_capacity(s.rows * s.c);
    let mut dgb = vec![0.0; 2 * s.c];
    for (row, d) in x.chunks(s.c).zip(dy.chunks(s.c)).take(s.rows) {
        let (mean, rstd) = row_stats(s, row);
        let xhat: Vec<f64> = row.iter().map(|v| (v - mean) * rstd).collect();
        let g: Vec<f64> = d.iter().zip(&gamma).map(|(d, g)| d * g).collect();
        let mg = g.iter().sum::<f64>() / c;
        let mgx = g.iter().zip(&xhat).map(|(g, x)| g * x).sum::<f64>() / c;
        dx.extend((0..s.c).map(|i| rstd * (g[i] - mg - xhat[i] * mgx)));
        for i in 0..s.c {
            dgb[i] += d[i] * xhat[i];
            dgb[s.c + i] += d[i];
        }
    }
    (dx, dgb)
}
