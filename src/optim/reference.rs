//! The f64 reference of every optimizer: the state a run carries, each step computed by the
//! optimizer's own module (beside its GPU program), its gradient clipped when the run asks,
//! and finished with the base step (`super::base`). The parity tests run it beside the GPU
//! trainer.

use super::aesam::AeSamState;
use super::base::{self, BaseHyper};
use super::config::{OptimizerConfig, OptimizerKind};
use super::oracle::RefStep;
use super::program::group_order;
use super::{aesam, esam, gsam, looksam, optsam, randsam, sam, samdb, sampa, sgd};
use crate::data::Batch;
use crate::kernels::dropout;
use crate::nn::{Model, reference};
use crate::rng::Pcg;

/// The state of one optimizer in f64.
#[derive(Clone, Debug)]
pub struct RefOptimizer {
    /// The optimizer.
    pub config: OptimizerConfig,
    /// Parameters.
    pub x: Vec<f64>,
    /// The base optimizer's state (SGD's momentum, Adam's moments).
    pub state: Vec<Vec<f64>>,
    /// The steps whose base-step gradient the clip scaled down.
    pub clipped: usize,
    /// SAMPa's g_y, OptSAM's previous gradient or LookSAM's g_v (zero before the first step).
    pub carried: Vec<f64>,
    /// SAMPa with m-sharpness: each group's g_y.
    pub kept: Vec<Vec<f64>>,
    /// AE-SAM's running statistics.
    pub aesam: AeSamState,
    /// The run's length in steps, which sets AE-SAM's c_t (`aesam::c_at`).
    pub run_steps: Option<usize>,
    /// VaSSO's average of the perturbation's gradients (zero before the first step).
    pub average: Vec<f64>,
    /// The previous step's batch.
    pub previous: Option<Batch>,
    /// Steps taken.
    pub steps: usize,
    /// The model's running statistics (its state vector), for models with BatchNorm: the
    /// passes `--bn-stats` names fold their batch statistics in after each step.
    pub running: Vec<f64>,
    /// Ghost batches: each pass over a batch normalises each of its `shards` shards
    /// ([`Batch::shard`]) by the shard's own BatchNorm statistics and takes the share-weighted
    /// sum of their gradients and losses, and the running statistics fold the shards'
    /// share-weighted mean statistics, unbiased over the first shard's rows: what the ranks of
    /// a data-parallel run without `--sync-bn` compute, rank 0 writing. 1 (the default): whole
    /// batches.
    pub shards: usize,
    noise: Pcg,
    /// The run's seed, from which each pass's dropout key follows as in the trainer.
    seed: u64,
}

impl RefOptimizer {
    /// Start at `x0`; `seed` seeds RandSAM's directions as in the GPU trainer.
    pub fn new(config: OptimizerConfig, x0: &[f32], seed: u64) -> Self {
        let n = x0.len();
        RefOptimizer {
            config,
            x: x0.iter().map(|&v| v as f64).collect(),
            state: vec![vec![0.0; n]; super::base::state(config.base).len()],
            clipped: 0,
            carried: vec![0.0; n],
            kept: Vec::new(),
            aesam: AeSamState::default(),
            run_steps: None,
            average: vec![0.0; n],
            previous: None,
            steps: 0,
            running: Vec::new(),
            shards: 1,
            noise: Pcg::new(seed, randsam::NOISE_STREAM),
            seed,
        }
    }

    /// One step on `batch`; returns the loss of the step's first pass over `batch`.
    pub fn step(
        &mut self,
        model: &Model,
        smoothing: f64,
        batch: &Batch,
        hyper: impl Into<BaseHyper>,
    ) -> f64 {
        let hyper = hyper.into();
        // Every pass's point and batch, in the order they ran, for the running statistics.
        // The passes run in program order (group by group for m-sharpness), so the k-th call
        // is group and pass `order[k]`, whose dropout key is the trainer's.
        let norms = !model.norm_sites().is_empty();
        let calls = std::cell::RefCell::new(Vec::new());
        let previous = self.previous.clone().unwrap_or_else(|| batch.clone());
        let order = call_order(&self.config, batch, &previous);
        let (seed, step, pass) = (self.seed, self.steps + 1, std::cell::Cell::new(0));
        let grad = |p: &[f64], b: &Batch| {
            let k = pass.replace(pass.get() + 1);
            let (group, i) = order.as_ref().map_or((0, k), |o| o[k]);
            let key = dropout::group_key(dropout::pass_key(seed, step, i), group);
            if norms {
                calls.borrow_mut().push((p.to_vec(), b.clone(), key, i));
            }
            ghost(b, self.shards, |part| {
                let inputs: Vec<f64> = part.pixels.iter().map(|&v| v as f64).collect();
                reference::evaluate_keyed(model, p, (&inputs, &part.labels), smoothing, key)
            })
        };
        let losses = |p: &[f64], b: &Batch| {
            let key = dropout::pass_key(seed, step, pass.get());
            let inputs: Vec<f64> = b.pixels.iter().map(|&v| v as f64).collect();
            reference::evaluate_keyed(model, p, (&inputs, &b.labels), smoothing, key).losses
        };
        let decay = self.config.no_wd_1d.then(|| model.decay_mask());
        let s = RefStep {
            decay: decay.as_ref(),
            config: self.config,
            x: &self.x,
            state: &self.state,
            hyper,
            steps: self.steps,
            batch,
            previous: &previous,
            grad: &grad,
            losses: &losses,
            model,
        };
        let mut g = match self.config.kind {
            OptimizerKind::Sgd => sgd::reference(&s),
            OptimizerKind::Sam => sam::reference(&s, &mut self.average),
            OptimizerKind::SamDb => samdb::reference(&s),
            OptimizerKind::Sampa => {
                let carried = (&mut self.carried, &mut self.kept);
                sampa::reference(&s, carried, &mut self.average)
            }
            OptimizerKind::RandSam => randsam::reference(&s, &mut self.noise),
            OptimizerKind::OptSam => optsam::reference(&s, &mut self.carried),
            OptimizerKind::Gsam => gsam::reference(&s),
            OptimizerKind::LookSam => looksam::reference(&s, &mut self.carried),
            OptimizerKind::AeSam => aesam::reference(&s, &mut self.aesam, self.run_steps),
            OptimizerKind::Esam => esam::reference(&s, &mut self.noise),
        };
        if let Some(c) = self.config.clip_norm {
            self.clipped += crate::kernels::clip::reference(c, &mut g.grad) as usize;
        }
        let at = (&mut self.x[..], &mut self.state[..]);
        base::reference_step(hyper, self.steps, &g.grad, at, decay.as_ref());
        if norms {
            self.fold_running(model, &calls.into_inner());
        }
        self.steps += 1;
        if super::program(&self.config).uses_previous_batch() {
            self.previous = Some(batch.clone());
        }
        g.loss
    }
}

impl RefOptimizer {
    /// Fold the batch statistics of the passes `--bn-stats` names (among `calls`, every pass's
    /// point, batch, dropout key and pass index in the order they ran) into the running
    /// statistics, as PyTorch does.
    fn fold_running(&mut self, model: &Model, calls: &[(Vec<f64>, Batch, u32, usize)]) {
        if self.running.is_empty() {
            self.running = model.init_state().iter().map(|&v| v as f64).collect();
        }
        let passes = super::bn_passes(&self.config).expect("the trainer checks --bn-stats");
        for (p, b, key, _) in calls.iter().filter(|c| passes.contains(&c.3)) {
            let mut stats = Vec::new();
            for part in (0..self.shards).map(|i| b.shard(i, self.shards)) {
                let inputs: Vec<f64> = part.pixels.iter().map(|&v| v as f64).collect();
                let s = reference::batch_stats(model, p, (&inputs, part.len()), *key);
                let w = part.len() as f64 / b.len() as f64;
                stats.resize(s.len(), 0.0);
                stats.iter_mut().zip(&s).for_each(|(a, v)| *a += w * v);
            }
            let rows = b.shard(0, self.shards).len();
            let mut at = 0;
            for site in model.norm_sites() {
                let m = (rows * site.hw) as f64;
                let (mean, var) = (
                    &stats[at..at + site.c],
                    &stats[at + site.c..at + 2 * site.c],
                );
                let r = &mut self.running[site.state..site.state + 2 * site.c + 1];
                for ch in 0..site.c {
                    r[ch] = 0.9 * r[ch] + 0.1 * mean[ch];
                    r[site.c + ch] = 0.9 * r[site.c + ch] + 0.1 * var[ch] * m / (m - 1.0);
                }
                r[2 * site.c] += 1.0;
                at += 2 * site.c;
            }
        }
    }
}

/// The evaluation of `batch` as `shards` ghost batches (see [`RefOptimizer::shards`]): each
/// shard's evaluation by `evaluate`, the loss and gradient weighted by the shard's share of
/// the batch and summed, the correct counts summed and the examples' losses in order.
fn ghost(
    batch: &Batch,
    shards: usize,
    evaluate: impl Fn(&Batch) -> reference::Evaluation,
) -> reference::Evaluation {
    if shards <= 1 {
        return evaluate(batch);
    }
    let mut total = reference::Evaluation {
        loss: 0.0,
        correct: 0,
        grad: Vec::new(),
        losses: Vec::new(),
    };
    for part in (0..shards).map(|i| batch.shard(i, shards)) {
        let e = evaluate(&part);
        let w = part.len() as f64 / batch.len() as f64;
        total.loss += w * e.loss;
        total.correct += e.correct;
        total.grad.resize(e.grad.len(), 0.0);
        total
            .grad
            .iter_mut()
            .zip(&e.grad)
            .for_each(|(a, v)| *a += w * v);
        total.losses.extend(e.losses);
    }
    total
}

/// For a grouped program (m-sharpness), the group and pass of each gradient call of a step,
/// in the order the trainer runs them (`Program::group_order`); `None` for other programs,
/// whose k-th call is pass k.
fn call_order(
    config: &OptimizerConfig,
    batch: &Batch,
    previous: &Batch,
) -> Option<Vec<(usize, usize)>> {
    let program = super::program(config);
    let m = program.grouped?;
    let groups: Vec<usize> = program
        .passes()
        .iter()
        .map(|p| match p.on {
            super::program::On::Previous => previous.len().div_ceil(m),
            _ => batch.len().div_ceil(m),
        })
        .collect();
    Some(group_order(&groups))
}
