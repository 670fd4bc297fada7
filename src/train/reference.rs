//! CPU f64 reference of every optimizer's step over the flat parameter vector, written from
//! `docs/algorithms.md` line by line and independent of the GPU trainer's buffer plumbing.
//! The parity tests run both side by side.

use super::optimizer::{LookaheadMode, OptimizerConfig, OptimizerKind};
use super::trainer::NOISE_STREAM;
use crate::data::Batch;
use crate::kernels::perturb::{self, Perturbation};
use crate::kernels::sgd::{self, SgdHyper};
use crate::nn::Model;
use crate::nn::reference;
use crate::rng::Pcg;

/// The state of one optimizer in f64.
#[derive(Clone, Debug)]
pub struct RefOptimizer {
    /// The optimizer.
    pub config: OptimizerConfig,
    /// Parameters.
    pub x: Vec<f64>,
    /// Momentum buffer.
    pub buf: Vec<f64>,
    /// SAMPa's g_y, or OptSAM's previous gradient (zero before the first step).
    pub carried: Vec<f64>,
    /// The previous step's batch.
    pub previous: Option<Batch>,
    /// Steps taken.
    pub steps: usize,
    noise: Pcg,
}

impl RefOptimizer {
    /// Start at `x0`; `seed` seeds RandSAM's directions as in the GPU trainer.
    pub fn new(config: OptimizerConfig, x0: &[f32], seed: u64) -> Self {
        let n = x0.len();
        RefOptimizer {
            config,
            x: x0.iter().map(|&v| v as f64).collect(),
            buf: vec![0.0; n],
            carried: vec![0.0; n],
            previous: None,
            steps: 0,
            noise: Pcg::new(seed, NOISE_STREAM),
        }
    }

    /// One step on `batch`; returns the loss of the step's first pass over `batch`.
    pub fn step(&mut self, model: &Model, smoothing: f64, batch: &Batch, hyper: SgdHyper) -> f64 {
        let grad = |p: &[f64], b: &Batch| {
            let inputs: Vec<f64> = b.pixels.iter().map(|&v| v as f64).collect();
            reference::evaluate(model, p, &inputs, &b.labels, smoothing)
        };
        let c = self.config;
        let how = Perturbation {
            rho: c.rho,
            normalized: !c.unnormalized,
            adaptive: c.adaptive,
        };
        let first = self.steps == 0;
        let previous = self.previous.clone().unwrap_or_else(|| batch.clone());
        let (g, loss) = match c.kind {
            OptimizerKind::Sgd => {
                let e = grad(&self.x, batch);
                (e.grad, e.loss)
            }
            OptimizerKind::Sam | OptimizerKind::SamDb => {
                let b1 = if c.kind == OptimizerKind::Sam {
                    batch
                } else {
                    &previous
                };
                let e1 = grad(&self.x, b1);
                let xt = perturb::reference(how, &self.x, &e1.grad);
                let e2 = grad(&xt, batch);
                let loss = if c.kind == OptimizerKind::Sam {
                    e1.loss
                } else {
                    e2.loss
                };
                (e2.grad, loss)
            }
            OptimizerKind::Sampa => {
                let xt = perturb::reference(how, &self.x, &self.carried);
                let y = if first {
                    self.x.clone()
                } else {
                    let h = match c.lookahead {
                        LookaheadMode::Code => hyper,
                        LookaheadMode::Paper => SgdHyper {
                            momentum: 0.0,
                            weight_decay: 0.0,
                            nesterov: false,
                            ..hyper
                        },
                    };
                    sgd::reference_lookahead(h, false, &self.carried, &self.x, &self.buf)
                };
                let gp = grad(&xt, &previous);
                let gn = grad(&y, batch);
                let l = c.lambda as f64;
                let mix = gp
                    .grad
                    .iter()
                    .zip(&gn.grad)
                    .map(|(p, n)| (1.0 - l) * p + l * n);
                let g = mix.collect();
                self.carried = gn.grad;
                (g, gn.loss)
            }
            OptimizerKind::RandSam => {
                let u: Vec<f64> = (0..self.x.len())
                    .map(|_| self.noise.normal() as f64)
                    .collect();
                let e = grad(&perturb::reference(how, &self.x, &u), batch);
                (e.grad, e.loss)
            }
            OptimizerKind::OptSam => {
                let e = grad(&perturb::reference(how, &self.x, &self.carried), batch);
                self.carried = e.grad.clone();
                (e.grad, e.loss)
            }
        };
        sgd::reference_step(hyper, first, &g, &mut self.x, &mut self.buf);
        self.steps += 1;
        if c.uses_previous_batch() {
            self.previous = Some(batch.clone());
        }
        loss
    }
}
