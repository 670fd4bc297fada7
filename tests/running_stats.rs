#![cfg(not(target_arch = "wasm32"))]
//! BatchNorm's running statistics after 10 steps equal the f64 reference's: for SGD, SAM and
//! SAMPa, with every `--bn-stats` choice, under every schedule (the worker on the other
//! adapter under `dual`), and for SAM with m-sharpness, group by group. The reference folds
//! the f64 batch statistics at its own points, so the two differ by the trajectories' f32
//! rounding only.

mod common;
use common::{assert_close, gpus, placements, residual_hyper, trainer};
use sampa::data::Batch;
use sampa::nn::Model;
use sampa::optim::reference::RefOptimizer;
use sampa::optim::{BnStats, OptimizerConfig, OptimizerKind};
use sampa::rng::Pcg;
use sampa::train::Placement;

const STEPS: usize = 10;

fn model() -> Model {
    Model::resnet(8, 3, 8, 8, 4).unwrap()
}

/// Batches of 8, one of 6 (a different row count in every statistic).
fn batches(m: &Model) -> Vec<Batch> {
    let mut rng = Pcg::new(8, 0);
    (0..STEPS)
        .map(|t| {
            let n = if t == 6 { 6 } else { 8 };
            Batch {
                pixels: rng.vec(n * m.input, 0.0, 1.0),
                labels: (0..n).map(|_| rng.below(4)).collect(),
                drawn: Vec::new(),
            }
        })
        .collect()
}

/// The choices to check per optimizer (None: its default).
fn choices(kind: OptimizerKind) -> Vec<Option<BnStats>> {
    match kind {
        OptimizerKind::Sgd => vec![None, Some(BnStats::All)],
        OptimizerKind::Sam => vec![None, Some(BnStats::XTilde), Some(BnStats::All)],
        _ => vec![None, Some(BnStats::XTilde), Some(BnStats::All)],
    }
}

#[test]
fn running_statistics_match_the_f64_reference_under_every_schedule() {
    let gpus = gpus();
    let m = model();
    let data = batches(&m);
    let x0 = m.init(4);
    let worker = gpus.get(1).unwrap_or(&gpus[0]);
    for kind in [OptimizerKind::Sgd, OptimizerKind::Sam, OptimizerKind::Sampa] {
        for bn_stats in choices(kind) {
            let config = OptimizerConfig {
                kind,
                bn_stats,
                ..Default::default()
            };
            let mut reference = RefOptimizer::new(config, &x0, 0);
            for b in &data {
                reference.step(&m, 0.0, b, residual_hyper());
            }
            let gpu = &gpus[0];
            for placement in placements(kind, &model(), worker) {
                let what = format!("{} bn-stats {bn_stats:?} {placement:?}", config.label());
                let updates = sampa::optim::bn_passes(&config).unwrap().len() * data.len();
                check(
                    gpu,
                    (&m, config, placement),
                    (&data, &x0),
                    (&reference.running, updates),
                    &what,
                );
            }
        }
    }
}

#[test]
fn m_sharpness_folds_every_groups_statistics_in_order() {
    // Groups of 4: two per batch of 8 and a 4 and a 2 in the batch of 6, each group's
    // statistics folded in as its own update (num_batches_tracked counts them). SAMPa's x̃
    // groups are the previous batch's, its y groups the current one's, and around the batch
    // of 6 the two differ in size: under every schedule (the worker's statistics come back
    // per group) they fold group by group, x̃'s before y's.
    let gpus = gpus();
    let gpu = &gpus[0];
    let worker = gpus.get(1).unwrap_or(gpu);
    let m = model();
    let data = batches(&m);
    let x0 = m.init(4);
    let groups = |b: &Batch| b.len().div_ceil(4);
    for kind in [OptimizerKind::Sam, OptimizerKind::Sampa] {
        for bn_stats in [None, Some(BnStats::All)] {
            let config = OptimizerConfig {
                kind,
                m_sharpness: Some(4),
                bn_stats,
                ..Default::default()
            };
            let mut reference = RefOptimizer::new(config, &x0, 0);
            for b in &data {
                reference.step(&m, 0.0, b, residual_hyper());
            }
            // SAMPa's pass 0 (x̃) takes the previous batch (the first step's own).
            let passes = sampa::optim::bn_passes(&config).unwrap();
            let updates: usize = (0..data.len())
                .map(|t| {
                    let previous = &data[t.saturating_sub(1)];
                    let on = |i: usize| match (kind, i) {
                        (OptimizerKind::Sampa, 0) => groups(previous),
                        _ => groups(&data[t]),
                    };
                    passes.iter().map(|&i| on(i)).sum::<usize>()
                })
                .sum();
            for placement in placements(kind, &model(), worker) {
                let what = format!("{} bn-stats {bn_stats:?} {placement:?}", config.label());
                let want = (&reference.running[..], updates);
                check(gpu, (&m, config, placement), (&data, &x0), want, &what);
            }
        }
    }
}

/// Train `m` under `placement` on `data` from `x0` and compare its running statistics with
/// `want` after `updates` updates: the counts exactly, the statistics to f32 rounding.
fn check(
    gpu: &sampa::Gpu,
    (m, config, placement): (&Model, OptimizerConfig, Placement),
    (data, x0): (&[Batch], &[f32]),
    (want, updates): (&[f64], usize),
    what: &str,
) {
    let mut t = trainer(gpu, m, 0.0, x0, config, 0);
    t.set_placement(gpu, placement).unwrap();
    for b in data {
        t.step(gpu, b, residual_hyper()).unwrap();
    }
    let state = t.state(gpu).unwrap().model_state;
    for p in m
        .state
        .iter()
        .filter(|p| p.name.ends_with("num_batches_tracked"))
    {
        assert_eq!(state[p.offset], updates as f32, "{what}: {}", p.name);
    }
    assert_close(what, &state, want, 1e-5, 1e-5);
}

/// The Wide ResNet's BatchNorms (two per unit, the first before the unit's convolutions) fold
/// their statistics the same way.
#[test]
fn wide_resnet_running_statistics_match_the_f64_reference() {
    let gpus = gpus();
    let m = Model::wrn(10, 1, (3, 8, 8), 4).unwrap();
    let data = &batches(&m)[..4];
    let x0 = m.init(4);
    let config = OptimizerConfig {
        kind: OptimizerKind::Sampa,
        ..Default::default()
    };
    let mut reference = RefOptimizer::new(config, &x0, 0);
    for b in data {
        reference.step(&m, 0.0, b, residual_hyper());
    }
    for placement in [Placement::Serial, Placement::Fused] {
        let what = format!("{} {placement:?}", m.name);
        let run = (&m, config, placement);
        let want = (&reference.running[..], data.len());
        check(&gpus[0], run, (data, &x0), want, &what);
    }
}

#[test]
fn bn_stats_naming_a_pass_the_optimizer_lacks_is_an_error_listing_its_passes() {
    let config = OptimizerConfig {
        kind: OptimizerKind::Sgd,
        bn_stats: Some(BnStats::Y),
        ..Default::default()
    };
    let e = sampa::optim::bn_passes(&config).unwrap_err().to_string();
    assert!(
        e.contains("--bn-stats y") && e.contains("its passes are x (or all)"),
        "{e}"
    );
    let sampa_config = OptimizerConfig {
        kind: OptimizerKind::Sampa,
        bn_stats: Some(BnStats::X),
        ..Default::default()
    };
    let e = sampa::optim::bn_passes(&sampa_config)
        .unwrap_err()
        .to_string();
    assert!(e.contains("x~, y"), "{e}");
    assert_eq!(
        sampa::optim::bn_passes(&OptimizerConfig {
            kind: OptimizerKind::Sampa,
            ..Default::default()
        })
        .unwrap(),
        [1]
    );
}

/// Evaluation normalises with the running statistics, as PyTorch's `model.eval()`: the
/// trainer's loss at x equals the f64 evaluation-mode loss at its own parameters and state,
/// and differs from the training-mode loss on the same batch.
#[test]
fn evaluation_uses_the_running_statistics() {
    use sampa::nn::reference;
    for gpu in &gpus() {
        let m = model();
        let data = batches(&m);
        let config = OptimizerConfig {
            kind: OptimizerKind::Sampa,
            ..Default::default()
        };
        let mut t = trainer(gpu, &m, 0.0, &m.init(4), config, 0);
        for b in &data {
            t.step(gpu, b, residual_hyper()).unwrap();
        }
        let test = &batches(&m)[3];
        let [loss, correct, _] = t.loss(gpu, test).unwrap();
        let x: Vec<f64> = gpu
            .read(t.params())
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect();
        let state: Vec<f64> = t
            .state(gpu)
            .unwrap()
            .model_state
            .iter()
            .map(|&v| v as f64)
            .collect();
        let inputs: Vec<f64> = test.pixels.iter().map(|&v| v as f64).collect();
        let (want, want_correct) =
            reference::evaluate_eval(&m, (&x, &state), &inputs, &test.labels, 0.0);
        let what = format!("{} evaluation loss", gpu.adapter.short());
        assert_close(&what, &[loss], &[want], 1e-5, 1e-5);
        assert_eq!(correct as usize, want_correct, "{what}: correct count");
        let training = reference::evaluate(&m, &x, &inputs, &test.labels, 0.0).loss;
        assert!(
            (training - want).abs() > 1e-3,
            "{what}: {training} vs {want}: a vacuous check"
        );
    }
}
