//! A CPU f64 reference of a whole model: forward, mean cross-entropy with label smoothing,
//! and backward to a flat gradient. Independent of the GPU code (it shares only the
//! parameter layout), so it can judge the GPU evaluator, and simple enough to be checked
//! itself by finite differences.

use super::{Layer, Model};

/// Loss, correct count and flat gradient of the mean loss over a batch.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f64,
    /// Correct predictions.
    pub correct: usize,
    /// d loss / d params, laid out like the parameters.
    pub grad: Vec<f64>,
}

/// y[b, o] = Σ_i x[b, i] w[o, i] + bias[o].
pub fn linear_forward(
    x: &[f64],
    w: &[f64],
    bias: &[f64],
    batch: usize,
    inp: usize,
    out: usize,
) -> Vec<f64> {
    let mut y = vec![0.0; batch * out];
    for b in 0..batch {
        for o in 0..out {
            let mut s = bias[o];
            for i in 0..inp {
                s += x[b * inp + i] * w[o * inp + i];
            }
            y[b * out + o] = s;
        }
    }
    y
}

/// Gradients of [`linear_forward`]: (dx, dw, db) from dy.
pub fn linear_backward(
    x: &[f64],
    w: &[f64],
    dy: &[f64],
    batch: usize,
    inp: usize,
    out: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut dx = vec![0.0; batch * inp];
    let mut dw = vec![0.0; out * inp];
    let mut db = vec![0.0; out];
    for b in 0..batch {
        for o in 0..out {
            let g = dy[b * out + o];
            db[o] += g;
            for i in 0..inp {
                dw[o * inp + i] += g * x[b * inp + i];
                dx[b * inp + i] += g * w[o * inp + i];
            }
        }
    }
    (dx, dw, db)
}

/// Mean smoothed cross-entropy, correct count, and d loss / d logits.
pub fn cross_entropy(
    logits: &[f64],
    labels: &[u32],
    classes: usize,
    smoothing: f64,
) -> (f64, usize, Vec<f64>) {
    let batch = labels.len();
    let mut loss = 0.0;
    let mut correct = 0;
    let mut d = vec![0.0; logits.len()];
    for b in 0..batch {
        let z = &logits[b * classes..(b + 1) * classes];
        let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = zmax + z.iter().map(|v| (v - zmax).exp()).sum::<f64>().ln();
        let label = labels[b] as usize;
        if z.iter().position(|&v| v == zmax) == Some(label) {
            correct += 1;
        }
        for c in 0..classes {
            let t = smoothing / classes as f64 + if c == label { 1.0 - smoothing } else { 0.0 };
            loss += t * (lse - z[c]);
            d[b * classes + c] = ((z[c] - lse).exp() - t) / batch as f64;
        }
    }
    (loss / batch as f64, correct, d)
}

/// Forward, loss and backward of `model` at `params` on one batch (`inputs` is
/// `labels.len() × model.input`).
pub fn evaluate(
    model: &Model,
    params: &[f64],
    inputs: &[f64],
    labels: &[u32],
    smoothing: f64,
) -> Evaluation {
    let batch = labels.len();
    let linears = model.linear_params();
    let mut acts = vec![inputs.to_vec()];
    let mut li = 0;
    for layer in &model.layers {
        let x = acts.last().expect("input");
        let y = match *layer {
            Layer::Linear { inp, out } => {
                let (w, b) = linears[li];
                li += 1;
                linear_forward(
                    x,
                    &params[w.offset..w.offset + w.len()],
                    &params[b.offset..b.offset + b.len()],
                    batch,
                    inp,
                    out,
                )
            }
            Layer::Relu => x.iter().map(|v| v.max(0.0)).collect(),
        };
        acts.push(y);
    }
    let (loss, correct, mut dy) = cross_entropy(
        acts.last().expect("logits"),
        labels,
        model.classes,
        smoothing,
    );
    let mut grad = vec![0.0; params.len()];
    for (k, layer) in model.layers.iter().enumerate().rev() {
        let x = &acts[k];
        dy = match *layer {
            Layer::Linear { inp, out } => {
                li -= 1;
                let (w, b) = linears[li];
                let (dx, dw, db) = linear_backward(
                    x,
                    &params[w.offset..w.offset + w.len()],
                    &dy,
                    batch,
                    inp,
                    out,
                );
                grad[w.offset..w.offset + w.len()].copy_from_slice(&dw);
                grad[b.offset..b.offset + b.len()].copy_from_slice(&db);
                dx
            }
            Layer::Relu => dy
                .iter()
                .zip(&acts[k + 1])
                .map(|(g, y)| if *y > 0.0 { *g } else { 0.0 })
                .collect(),
        };
    }
    Evaluation {
        loss,
        correct,
        grad,
    }
}
