//! The metrics GLUE reports, as Hugging Face's `glue_compute_metrics` computes them with
//! scikit-learn and SciPy: accuracy; F1 of class 1 (MRPC, QQP); Matthews' correlation
//! (CoLA); Pearson's and Spearman's correlations (STS-B), Spearman's with tied values given
//! their average rank. Sums run in f64. Where a metric is undefined (a denominator of zero, as
//! for a constant prediction), the value is 0, as scikit-learn returns it.

use super::glue::{Label, Task};

/// The share of `predicted` equal to `gold`.
pub fn accuracy(predicted: &[u32], gold: &[u32]) -> f64 {
    let right = predicted.iter().zip(gold).filter(|(p, g)| p == g).count();
    right as f64 / gold.len().max(1) as f64
}

/// True and false positives and negatives, class 1 counting as positive.
fn confusion(predicted: &[u32], gold: &[u32]) -> [f64; 4] {
    let mut c = [0.0; 4];
    for (&p, &g) in predicted.iter().zip(gold) {
        let i = match (p == 1, g == 1) {
            (true, true) => 0,
            (true, false) => 1,
            (false, false) => 2,
            (false, true) => 3,
        };
        c[i] += 1.0;
    }
    c
}

/// F1 of class 1: 2·TP / (2·TP + FP + FN).
pub fn f1(predicted: &[u32], gold: &[u32]) -> f64 {
    let [tp, fp, _, fn_] = confusion(predicted, gold);
    ratio(2.0 * tp, 2.0 * tp + fp + fn_)
}

/// Matthews' correlation of two binary labellings: (TP·TN − FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN)).
pub fn matthews(predicted: &[u32], gold: &[u32]) -> f64 {
    let [tp, fp, tn, fn_] = confusion(predicted, gold);
    let d = ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt();
    ratio(tp * tn - fp * fn_, d)
}

/// Pearson's correlation of `x` and `y`.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    ratio(sxy, (sxx * syy).sqrt())
}

/// Each value's rank among `x`, from 1, tied values taking the mean of the ranks they span.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut out = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        // Positions i..=j hold ranks i+1..=j+1; their mean.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        order[i..=j].iter().for_each(|&k| out[k] = rank);
        i = j + 1;
    }
    out
}

/// Spearman's correlation: Pearson's of the ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

impl Task {
    /// GLUE's metrics of `predicted` against `gold` for this task, by name: `mcc` (CoLA),
    /// `pearson` and `spearman` (STS-B), `f1` and `accuracy` (MRPC, QQP), `accuracy` (the
    /// rest). Labels of the other kind than the task's count as wrong (classes) or as 0
    /// (scores).
    pub fn metrics(self, predicted: &[Label], gold: &[Label]) -> Vec<(&'static str, f64)> {
        let classes = |l: &[Label]| -> Vec<u32> {
            l.iter()
                .map(|l| match l {
                    Label::Class(c) => *c,
                    Label::Score(_) => u32::MAX,
                })
                .collect()
        };
        let scores = |l: &[Label]| -> Vec<f64> {
            l.iter()
                .map(|l| match l {
                    Label::Score(s) => *s as f64,
                    Label::Class(_) => 0.0,
                })
                .collect()
        };
        match self {
            Task::Cola => vec![("mcc", matthews(&classes(predicted), &classes(gold)))],
            Task::Stsb => {
                let (p, g) = (scores(predicted), scores(gold));
                vec![("pearson", pearson(&p, &g)), ("spearman", spearman(&p, &g))]
            }
            Task::Mrpc | Task::Qqp => {
                let (p, g) = (classes(predicted), classes(gold));
                vec![("f1", f1(&p, &g)), ("accuracy", accuracy(&p, &g))]
            }
            _ => vec![("accuracy", accuracy(&classes(predicted), &classes(gold)))],
        }
    }
}
