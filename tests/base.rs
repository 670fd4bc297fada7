#![cfg(not(target_arch = "wasm32"))]
//! Every base optimizer (SGD, Adam, AdamW) under every SAM variant on the GPU against its f64
//! reference over 24 steps, with warm-up, linear decay and clipping active on some steps; and
//! every base under every schedule placing SAMPa's pair.

mod common;
use common::{gpus, kernels};
use sampa::nn::Model;
use sampa::optim::lr::{LrPlan, LrSchedule};
use sampa::optim::{BaseKind, BaseSettings, LookaheadMode, OptimizerConfig, OptimizerKind};
use sampa::train::schedule::thread::ThreadTransport;
use sampa::train::{Placement, Trainer, TrainerSpec, parity};

const STEPS: usize = 24;

/// The base's settings, with the rates each is used at (SGD 0.1, Adam 0.01).
fn settings(kind: BaseKind) -> (BaseSettings, f32) {
    let s = BaseSettings {
        kind,
        weight_decay: if kind == BaseKind::AdamW { 0.05 } else { 5e-4 },
        momentum: 0.9,
        nesterov: false,
        betas: [0.9, 0.999],
        eps: 1e-8,
    };
    (s, if kind == BaseKind::Sgd { 0.1 } else { 0.01 })
}

/// Four steps of warm-up, then linear decay to zero at step 24.
fn plan(lr: f32) -> LrPlan {
    LrPlan {
        lr,
        schedule: LrSchedule::Linear,
        warmup: 4,
        total: STEPS,
        epochs: 1,
        milestones: Vec::new(),
        gamma: 0.2,
    }
}

/// The variants the paper compares, each as an optimizer config on `base`.
fn variants(base: BaseKind, clip: f32) -> Vec<OptimizerConfig> {
    let c = OptimizerConfig {
        rho: 0.05,
        base,
        clip_norm: Some(clip),
        ..Default::default()
    };
    use OptimizerKind::*;
    let sampa = |lambda, lookahead| OptimizerConfig {
        kind: Sampa,
        lambda,
        lookahead,
        ..c
    };
    vec![
        OptimizerConfig { kind: Sgd, ..c },
        OptimizerConfig { kind: Sam, ..c },
        sampa(0.2, LookaheadMode::Code),
        sampa(0.0, LookaheadMode::Code),
        sampa(0.2, LookaheadMode::Paper),
        sampa(0.0, LookaheadMode::Paper),
        // ASAM and USAM, with the larger ρ they take.
        OptimizerConfig {
            kind: Sam,
            adaptive: true,
            rho: 0.5,
            ..c
        },
        OptimizerConfig {
            kind: Sam,
            unnormalized: true,
            rho: 0.5,
            ..c
        },
    ]
}

#[test]
fn every_base_under_every_variant_matches_its_f64_reference_with_schedule_and_clipping() {
    // The tolerance of tests/optim.rs: f32 rounding grows to about 1e-6 of the largest
    // parameter over 24 steps; an algorithmic slip (a wrong moment, correction, sign or clip)
    // moves parameters by 1e-3 and more.
    const TOL: f64 = 1e-5;
    // A bound the MLP's gradients cross during the run (printed below), so that clipping
    // acts on some steps and not on others.
    const CLIP: f32 = 0.3;
    let model = Model::mlp(24, &[16, 12], 4).unwrap();
    let x0 = model.init(5);
    let data = parity::batches(&model, STEPS);
    for gpu in &gpus() {
        for base in BaseKind::ALL {
            let (s, lr) = settings(base);
            let plan = plan(lr);
            for config in variants(base, CLIP) {
                let spec = common::spec(gpu, &model, 0.1, config, 9);
                let run = parity::parity(gpu, spec, &x0, &data, |t| s.hyper(plan.rate(t, 0)));
                let p = gpu.block_on(run).unwrap();
                eprintln!(
                    "{}: {}: max |x_gpu - x_f64| / max|x| = {:.2e}, loss {:.2e}, clipped on {} \
                     of {STEPS} steps",
                    gpu.adapter.short(),
                    config.label(),
                    p.params,
                    p.loss,
                    p.clipped
                );
                let what = config.label();
                assert!(p.moved > 1e-3, "{what}: the parameters barely moved");
                assert!(p.loss < 1e-4, "{what}: reported loss off by {:.2e}", p.loss);
                assert!(p.params <= TOL, "{what}: {:.2e} > {TOL:.0e}", p.params);
                assert!(
                    p.clipped > 0 && p.clipped < STEPS,
                    "{what}: the clip acted on {} of {STEPS} steps; it must act on some only",
                    p.clipped
                );
            }
        }
    }
}

#[test]
fn every_base_gives_one_trajectory_under_every_schedule() {
    // SAMPa's pair run one after another, interleaved, fused or on a worker thread computes
    // the same bits on one adapter (tests/schedule.rs); the base step, the clip and the
    // look-ahead must not care where the gradients came from.
    let model = Model::mlp(24, &[16], 4).unwrap();
    let x0 = model.init(3);
    let data = parity::batches(&model, 8);
    for gpu in &gpus() {
        for base in [BaseKind::Adam, BaseKind::AdamW] {
            let (s, lr) = settings(base);
            let config = OptimizerConfig {
                kind: OptimizerKind::Sampa,
                base,
                clip_norm: Some(0.6),
                ..Default::default()
            };
            let run = |placement: Placement| {
                let spec = TrainerSpec {
                    model: model.clone(),
                    smoothing: 0.0,
                    optimizer: config,
                    seed: 1,
                    kernels: kernels(gpu),
                };
                let mut t = Trainer::new(gpu, spec, &x0).unwrap();
                t.set_placement(gpu, placement).unwrap();
                for (i, b) in data.iter().enumerate() {
                    t.step(gpu, b, s.hyper(lr * (1.0 + i as f32) / 8.0))
                        .unwrap();
                }
                gpu.read(t.params()).unwrap()
            };
            let serial = run(Placement::Serial);
            let mut others = vec![
                ("interleaved", run(Placement::Interleaved)),
                ("fused", run(Placement::Fused)),
            ];
            if gpu.adapter.backend == "Vulkan" {
                // The worker on a second handle of the same device, as tests/schedule.rs.
                let how = (model.clone(), 0.0, kernels(gpu));
                let t = ThreadTransport::spawn_failing_at(gpu.clone(), how, None).unwrap();
                others.push(("dual", run(Placement::Dual(Box::new(t)))));
            }
            assert_ne!(serial, x0, "{base:?}: the parameters did not move");
            for (name, x) in others {
                assert!(
                    x == serial,
                    "{}: {base:?} {name} differs from serial",
                    gpu.adapter.short()
                );
            }
        }
    }
}
