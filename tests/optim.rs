#![cfg(not(target_arch = "wasm32"))]
//! Every optimizer on the GPU against its f64 CPU reference (`sampa::train::reference`), step
//! by step on a small MLP, and the λ = 0 guard.

mod common;
use common::{gpus, trainer};
use sampa::data::Batch;
use sampa::kernels::sgd::SgdHyper;
use sampa::nn::Model;
use sampa::optim::{LookaheadMode, OptimizerConfig, OptimizerKind};
use sampa::train::parity;

const STEPS: usize = 24;

fn batches(model: &Model) -> Vec<Batch> {
    parity::batches(model, STEPS)
}

fn hyper(nesterov: bool, t: usize) -> SgdHyper {
    parity::hyper(nesterov, t)
}

/// Run `config` for `STEPS` steps on the GPU and on the reference; returns the largest
/// difference of the parameters relative to their largest magnitude.
fn parity(gpu: &sampa::Gpu, config: OptimizerConfig, nesterov: bool) -> f64 {
    let model = Model::mlp(24, &[16, 12], 4).unwrap();
    let x0 = model.init(5);
    let spec = common::spec(gpu, &model, 0.1, config, 9);
    let data = batches(&model);
    let run = parity::parity(gpu, spec, &x0, &data, |t| hyper(nesterov, t));
    let p = gpu.block_on(run).unwrap();
    assert!(
        p.moved > 1e-3,
        "{config:?}: the parameters barely moved ({})",
        p.moved
    );
    assert!(
        p.loss < 1e-4,
        "{config:?}: reported loss off by {:.2e} relative",
        p.loss
    );
    p.params
}

#[test]
fn every_optimizer_matches_its_f64_reference_over_many_steps() {
    // f32 against f64 over 24 steps of a 24-16-12-4 MLP: rounding in the sums of products
    // grows slowly through the steps (about 1e-6 measured); 1e-5 of the largest parameter leaves room for that and
    // is far below any algorithmic slip (a wrong batch, sign or coefficient moves parameters
    // by 1e-3 and more).
    const TOL: f64 = 1e-5;
    let base = OptimizerConfig {
        rho: 0.05,
        ..Default::default()
    };
    use OptimizerKind::*;
    let mut cases = vec![];
    for kind in [Sgd, Sam, Sampa, RandSam, OptSam, SamDb] {
        cases.push((OptimizerConfig { kind, ..base }, false));
    }
    for lambda in [0.0, 0.5, 1.0] {
        cases.push((
            OptimizerConfig {
                kind: Sampa,
                lambda,
                ..base
            },
            false,
        ));
    }
    let paper = OptimizerConfig {
        kind: Sampa,
        lookahead: LookaheadMode::Paper,
        ..base
    };
    cases.push((paper, false));
    cases.push((
        OptimizerConfig {
            kind: Sampa,
            ..base
        },
        true,
    ));
    cases.push((
        OptimizerConfig {
            kind: Sam,
            adaptive: true,
            rho: 0.5,
            ..base
        },
        false,
    ));
    cases.push((
        OptimizerConfig {
            kind: Sampa,
            adaptive: true,
            rho: 0.5,
            ..base
        },
        false,
    ));
    cases.push((
        OptimizerConfig {
            kind: Sam,
            unnormalized: true,
            rho: 0.5,
            ..base
        },
        true,
    ));
    cases.push((
        OptimizerConfig {
            kind: OptSam,
            unnormalized: true,
            ..base
        },
        false,
    ));
    for gpu in &gpus() {
        for &(config, nesterov) in &cases {
            let d = parity(gpu, config, nesterov);
            eprintln!(
                "{}: {} nesterov={nesterov}: max |x_gpu - x_f64| / max|x| after {STEPS} steps = {d:.2e}",
                gpu.adapter.short(),
                config.label()
            );
            assert!(d <= TOL, "{config:?}: {d:.2e} > {TOL:.0e}");
        }
    }
}

#[test]
fn sampa_with_lambda_zero_is_not_sgd() {
    // The official code recovers g_y from a summed buffer by dividing by λ, which turns
    // λ = 0 into plain SGD. Here g_y has its own buffer: SAMPa-0 still perturbs by it.
    for gpu in &gpus() {
        let model = Model::mlp(24, &[16], 4).unwrap();
        let x0 = model.init(1);
        let run = |config: OptimizerConfig| {
            let mut t = trainer(gpu, &model, 0.0, &x0, config, 0);
            let mut first = None;
            for b in batches(&model).iter().take(6) {
                t.step(gpu, b, hyper(false, 0)).unwrap();
                first.get_or_insert_with(|| gpu.read(t.params()).unwrap());
            }
            (first.unwrap(), gpu.read(t.params()).unwrap())
        };
        let sgd = run(OptimizerConfig::default());
        let sampa0 = run(OptimizerConfig {
            kind: OptimizerKind::Sampa,
            lambda: 0.0,
            rho: 0.05,
            ..Default::default()
        });
        assert_eq!(sgd.0, sampa0.0, "SAMPa's first step is plain SGD");
        let apart = sgd
            .1
            .iter()
            .zip(&sampa0.1)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        eprintln!(
            "{}: max |SAMPa-0 - SGD| after 6 steps = {apart:.3e}",
            gpu.adapter.short()
        );
        assert!(
            apart > 1e-3,
            "SAMPa-0 must differ from SGD, got {apart:.3e}"
        );
    }
}

#[test]
fn every_step_reports_the_parameters_squared_norm() {
    // The update adds up the new parameters' squares as it writes them and the host adds its
    // partial sums; against the f64 norm of the parameters read back after each step, for a
    // plain step and for SAMPa's step that also writes the next look-ahead point.
    for gpu in &gpus() {
        let model = Model::mlp(24, &[16, 12], 4).unwrap();
        let x0 = model.init(2);
        let sampa = OptimizerConfig {
            kind: OptimizerKind::Sampa,
            lambda: 0.2,
            rho: 0.05,
            ..Default::default()
        };
        for config in [OptimizerConfig::default(), sampa] {
            let mut t = trainer(gpu, &model, 0.0, &x0, config, 0);
            for (i, b) in batches(&model).iter().take(4).enumerate() {
                t.step(gpu, b, hyper(false, i)).unwrap();
                let x = gpu.read(t.params()).unwrap();
                let want: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
                let got = t.param_norm_sq() as f64;
                let what = format!("{} {:?} step {i}", gpu.adapter.short(), config.kind);
                assert!(
                    (got - want).abs() <= 1e-6 * want,
                    "{what}: ‖x‖² {got} against {want}"
                );
            }
        }
    }
}
