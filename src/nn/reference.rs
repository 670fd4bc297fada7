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

/// Geometry of a reference convolution on NCHW data.
#[derive(Clone, Copy, Debug)]
pub struct Conv {
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel side.
    pub k: usize,
    /// Zero padding.
    pub pad: usize,
}

impl Conv {
    fn out(&self) -> (usize, usize) {
        (
            self.h + 2 * self.pad + 1 - self.k,
            self.w + 2 * self.pad + 1 - self.k,
        )
    }

    /// Visit every (n, o, y, x, c, ky, kx) whose input lies inside the image, with the flat
    /// indices of output, weight and input.
    fn each(&self, mut f: impl FnMut(usize, usize, usize, usize)) {
        let (ho, wo) = self.out();
        for n in 0..self.n {
            for o in 0..self.cout {
                for y in 0..ho {
                    for x in 0..wo {
                        let out = ((n * self.cout + o) * ho + y) * wo + x;
                        for c in 0..self.cin {
                            for ky in 0..self.k {
                                for kx in 0..self.k {
                                    let iy = (y + ky) as isize - self.pad as isize;
                                    let ix = (x + kx) as isize - self.pad as isize;
                                    if (0..self.h as isize).contains(&iy)
                                        && (0..self.w as isize).contains(&ix)
                                    {
                                        let wi = ((o * self.cin + c) * self.k + ky) * self.k + kx;
                                        let xi = ((n * self.cin + c) * self.h + iy as usize)
                                            * self.w
                                            + ix as usize;
                                        f(out, o, wi, xi);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Convolution forward on NCHW data with a `[cout, cin, k, k]` weight.
pub fn conv_forward(g: Conv, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let (ho, wo) = g.out();
    let mut y: Vec<f64> = (0..g.n * g.cout * ho * wo)
        .map(|i| b[(i / (ho * wo)) % g.cout])
        .collect();
    g.each(|out, _, wi, xi| y[out] += w[wi] * x[xi]);
    y
}

/// Gradients of [`conv_forward`]: (dx, dw, db) from dy.
pub fn conv_backward(g: Conv, x: &[f64], w: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (ho, wo) = g.out();
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    let mut db = vec![0.0; g.cout];
    for (i, v) in dy.iter().enumerate() {
        db[(i / (ho * wo)) % g.cout] += v;
    }
    g.each(|out, _, wi, xi| {
        dw[wi] += dy[out] * x[xi];
        dx[xi] += dy[out] * w[wi];
    });
    (dx, dw, db)
}

/// 2×2 max pooling on NCHW planes (`planes` = N·C), first maximum wins; returns the output
/// and, per output, the input index it came from.
pub fn pool_forward(x: &[f64], planes: usize, h: usize, w: usize) -> (Vec<f64>, Vec<usize>) {
    let (ho, wo) = (h / 2, w / 2);
    let mut y = Vec::new();
    let mut from = Vec::new();
    for p in 0..planes {
        for yo in 0..ho {
            for xo in 0..wo {
                let at = |q: usize| (p * h + 2 * yo + q / 2) * w + 2 * xo + q % 2;
                let q = (1..4).fold(0, |b, q| if x[at(q)] > x[at(b)] { q } else { b });
                y.push(x[at(q)]);
                from.push(at(q));
            }
        }
    }
    (y, from)
}

/// Forward, loss and backward of `model` at `params` on one batch (`inputs` is
/// `labels.len() × model.input`, NCHW for images). Activations stay in PyTorch's NCHW layout
/// throughout, so flatten is the identity here.
pub fn evaluate(
    model: &Model,
    params: &[f64],
    inputs: &[f64],
    labels: &[u32],
    smoothing: f64,
) -> Evaluation {
    let batch = labels.len();
    let weighted = model.weighted_params();
    let shapes = model.shapes();
    let tensor = |p: &super::Param| &params[p.offset..p.offset + p.len()];
    let mut acts = vec![inputs.to_vec()];
    let mut pools = Vec::new();
    let mut wi = 0;
    for (k, layer) in model.layers.iter().enumerate() {
        let x = acts.last().expect("input");
        let y = match (*layer, shapes[k]) {
            (Layer::Linear { inp, out }, _) => {
                let (w, b) = weighted[wi];
                wi += 1;
                linear_forward(x, tensor(w), tensor(b), batch, inp, out)
            }
            (Layer::Conv2d { cin, cout, k, pad }, super::Act::Image(_, h, w)) => {
                let (wt, b) = weighted[wi];
                wi += 1;
                conv_forward(
                    Conv {
                        n: batch,
                        cin,
                        cout,
                        h,
                        w,
                        k,
                        pad,
                    },
                    x,
                    tensor(wt),
                    tensor(b),
                )
            }
            (Layer::MaxPool2, super::Act::Image(c, h, w)) => {
                let (y, from) = pool_forward(x, batch * c, h, w);
                pools.push(from);
                y
            }
            (Layer::Relu, _) => x.iter().map(|v| v.max(0.0)).collect(),
            (Layer::Flatten, _) => x.clone(),
            (l, a) => unreachable!("{l:?} after {a:?}"),
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
        dy = match (*layer, shapes[k]) {
            (Layer::Linear { inp, out }, _) => {
                wi -= 1;
                let (w, b) = weighted[wi];
                let (dx, dw, db) = linear_backward(x, tensor(w), &dy, batch, inp, out);
                grad[w.offset..w.offset + w.len()].copy_from_slice(&dw);
                grad[b.offset..b.offset + b.len()].copy_from_slice(&db);
                dx
            }
            (Layer::Conv2d { cin, cout, k, pad }, super::Act::Image(_, h, w)) => {
                wi -= 1;
                let (wt, b) = weighted[wi];
                let (dx, dw, db) = conv_backward(
                    Conv {
                        n: batch,
                        cin,
                        cout,
                        h,
                        w,
                        k,
                        pad,
                    },
                    x,
                    tensor(wt),
                    &dy,
                );
                grad[wt.offset..wt.offset + wt.len()].copy_from_slice(&dw);
                grad[b.offset..b.offset + b.len()].copy_from_slice(&db);
                dx
            }
            (Layer::MaxPool2, _) => {
                let from = pools.pop().expect("one record per pool");
                let mut dx = vec![0.0; x.len()];
                for (o, &i) in from.iter().enumerate() {
                    dx[i] = dy[o];
                }
                dx
            }
            (Layer::Relu, _) => dy
                .iter()
                .zip(&acts[k + 1])
                .map(|(g, y)| if *y > 0.0 { *g } else { 0.0 })
                .collect(),
            (Layer::Flatten, _) => dy,
            (l, a) => unreachable!("{l:?} after {a:?}"),
        };
    }
    Evaluation {
        loss,
        correct,
        grad,
    }
}
