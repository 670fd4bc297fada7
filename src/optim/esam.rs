//! ESAM (Du et al., "Efficient Sharpness-aware Minimization for Improved Training of Neural
//! Networks", ICLR 2022): SAM made cheaper twice over.
//!
//! - **Stochastic weight perturbation.** Each parameter tensor is perturbed with probability
//!   β (drawn per step with the optimizer's seeded generator), by ρ·g/(β·‖g‖) with ‖g‖ the
//!   whole gradient's norm, as the authors' code scales it; the other tensors stay at x.
//! - **Sharpness-sensitive data selection.** A loss-only pass at x + ε on the whole batch gives
//!   each example's loss there; the update gradient is the mean gradient at x + ε over the
//!   ⌈γ·B⌉ examples whose loss rose most from x, taken on those examples alone (their own
//!   batch, in batch order, as the authors' code recomputes the forward on the subset).
//!
//! β = 1 perturbs every tensor by SAM's ρ·g/‖g‖, and γ = 1 takes every example: the program is
//! then SAM's, bit for bit. The choice of examples needs the losses on the host, so a step with
//! γ < 1 waits for them mid-step (`train/select.rs`).

use super::config::OptimizerConfig;
use super::oracle::{RefGradient, RefStep};
use super::program::On::{Current, Selected};
use super::program::Vector::*;
use super::program::{Op, Program};
use crate::data::Batch;
use crate::kernels::perturb;
use crate::nn::Model;
use crate::rng::Pcg;

/// β and γ: the flags, else the defaults.
pub fn settings(c: &OptimizerConfig) -> [f32; 2] {
    c.esam()
}

/// The GPU program.
pub fn program(c: &OptimizerConfig) -> Program {
    let [beta, gamma] = settings(c);
    // g = ∇f(x; B), each example's loss kept
    let mut ops = vec![Op::grad("x", X, Current, G)];
    if beta < 1.0 {
        // d = g/β on the tensors kept with probability β, 0 elsewhere
        ops.push(Op::drop_tensors(G, Masked, beta));
        // x̃ = x + ρ·d/‖g‖
        ops.push(Op::perturb_by(Masked, G, XTilde));
    } else {
        // x̃ = x + ρ·g/‖g‖
        ops.push(Op::perturb(G, XTilde));
    }
    let on = if gamma < 1.0 {
        // the ⌈γ·B⌉ examples whose loss rose most from x to x̃
        ops.push(Op::select("x", XTilde, gamma));
        Selected
    } else {
        Current
    };
    // g̃ = ∇f(x̃; chosen examples); x ← base step with g̃
    ops.push(Op::grad("x~", XTilde, on, GTilde));
    ops.push(Op::step(GTilde));
    Program::new(ops, "x")
}

/// Draw one step's tensor mask into `host`: each of `model`'s parameter tensors is kept with
/// probability `keep` (one uniform draw per tensor, in the model's order) and then holds
/// 1/`keep`, the others 0.
pub fn draw_mask(model: &Model, keep: f32, rng: &mut Pcg, host: &mut Vec<f32>) {
    host.clear();
    host.resize(model.param_count(), 0.0);
    for p in &model.params {
        if rng.uniform(0.0, 1.0) < keep {
            host[p.offset..p.offset + p.len()].fill(1.0 / keep);
        }
    }
}

/// The indices, in batch order, of the ⌈`keep`·n⌉ examples whose loss rose most from
/// `before` to `after` (ties to the earlier example).
pub fn choose(keep: f32, before: &[f64], after: &[f64]) -> Vec<usize> {
    let n = before.len();
    let k = ((keep as f64 * n as f64).ceil() as usize).clamp(1, n);
    let mut order: Vec<usize> = (0..n).collect();
    let rise = |i: usize| after[i] - before[i];
    order.sort_by(|&a, &b| rise(b).total_cmp(&rise(a)).then(a.cmp(&b)));
    order.truncate(k);
    order.sort_unstable();
    order
}

/// The examples `chosen` of `batch` as a batch of their own, into `out` (reused).
pub fn gather(batch: &Batch, chosen: &[usize], out: &mut Batch) {
    let per = batch.pixels.len() / batch.len().max(1);
    out.pixels.clear();
    out.labels.clear();
    out.drawn.clear();
    for &i in chosen {
        out.pixels
            .extend_from_slice(&batch.pixels[i * per..(i + 1) * per]);
        out.labels.push(batch.labels[i]);
    }
}

/// The f64 reference of the same step; `rng` is the optimizer's generator.
pub fn reference(s: &RefStep<'_>, rng: &mut Pcg) -> RefGradient {
    let [beta, gamma] = settings(&s.config);
    let e1 = (s.grad)(s.x, s.batch);
    let xt = if beta < 1.0 {
        let mut mask = Vec::new();
        draw_mask(s.model, beta, rng, &mut mask);
        let d: Vec<f64> = e1
            .grad
            .iter()
            .zip(&mask)
            .map(|(g, &m)| g * m as f64)
            .collect();
        let norm = e1.grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        let how = s.perturbation();
        let scale = match how.normalized {
            true => how.rho as f64 / (norm + perturb::EPS as f64),
            false => how.rho as f64,
        };
        s.x.iter().zip(&d).map(|(x, d)| x + scale * d).collect()
    } else {
        perturb::reference(s.perturbation(), s.x, &e1.grad)
    };
    let batch = if gamma < 1.0 {
        let after = (s.losses)(&xt, s.batch);
        let mut chosen = Batch::default();
        gather(s.batch, &choose(gamma, &e1.losses, &after), &mut chosen);
        chosen
    } else {
        s.batch.clone()
    };
    RefGradient {
        grad: (s.grad)(&xt, &batch).grad,
        loss: e1.loss,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_takes_the_largest_rises_in_batch_order_ties_to_the_earlier() {
        let before = [1.0, 1.0, 2.0, 0.5, 3.0, 1.0];
        // Rises: 0.5, -0.2, 0.5, 2.0, 0.0, 0.5.
        let after = [1.5, 0.8, 2.5, 2.5, 3.0, 1.5];
        assert_eq!(choose(0.5, &before, &after), [0, 2, 3]);
        assert_eq!(choose(0.34, &before, &after), [0, 2, 3], "⌈0.34·6⌉ = 3");
        assert_eq!(
            choose(0.2, &before, &after),
            [0, 3],
            "⌈1.2⌉ = 2: a tie goes to 0"
        );
        assert_eq!(choose(0.01, &before, &after), [3]);
        assert_eq!(choose(1.0, &before, &after), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn gather_keeps_the_chosen_examples_whole() {
        let batch = Batch {
            pixels: (0..12).map(|v| v as f32).collect(),
            labels: vec![7, 8, 9, 6],
            drawn: Vec::new(),
        };
        let mut out = Batch::default();
        gather(&batch, &[1, 3], &mut out);
        assert_eq!(out.pixels, [3.0, 4.0, 5.0, 9.0, 10.0, 11.0]);
        assert_eq!(out.labels, [8, 6]);
    }
}
