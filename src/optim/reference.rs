//! The f64 reference of every optimizer: the state a run carries, each step computed by the
//! optimizer's own module (beside its GPU program) and finished with the base SGD step. The
//! parity tests run it beside the GPU trainer.

use super::config::{OptimizerConfig, OptimizerKind};
use super::oracle::RefStep;
use super::{optsam, randsam, sam, samdb, sampa, sgd};
use crate::data::Batch;
use crate::kernels::sgd::{self as base, SgdHyper};
use crate::nn::{Model, reference};
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
            noise: Pcg::new(seed, randsam::NOISE_STREAM),
        }
    }

    /// One step on `batch`; returns the loss of the step's first pass over `batch`.
    pub fn step(&mut self, model: &Model, smoothing: f64, batch: &Batch, hyper: SgdHyper) -> f64 {
        let grad = |p: &[f64], b: &Batch| {
            let inputs: Vec<f64> = b.pixels.iter().map(|&v| v as f64).collect();
            reference::evaluate(model, p, &inputs, &b.labels, smoothing)
        };
        let previous = self.previous.clone().unwrap_or_else(|| batch.clone());
        let first = self.steps == 0;
        let s = RefStep {
            config: self.config,
            x: &self.x,
            buf: &self.buf,
            hyper,
            first,
            batch,
            previous: &previous,
            grad: &grad,
        };
        let g = match self.config.kind {
            OptimizerKind::Sgd => sgd::reference(&s),
            OptimizerKind::Sam => sam::reference(&s),
            OptimizerKind::SamDb => samdb::reference(&s),
            OptimizerKind::Sampa => sampa::reference(&s, &mut self.carried),
            OptimizerKind::RandSam => randsam::reference(&s, &mut self.noise),
            OptimizerKind::OptSam => optsam::reference(&s, &mut self.carried),
        };
        base::reference_step(hyper, first, &g.grad, &mut self.x, &mut self.buf);
        self.steps += 1;
        if super::program(&self.config).uses_previous_batch() {
            self.previous = Some(batch.clone());
        }
        g.loss
    }
}
