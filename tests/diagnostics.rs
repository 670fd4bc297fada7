#![cfg(not(target_arch = "wasm32"))]
//! What a step measures besides its loss. The perturbation's norms (‖g‖ of the direction it
//! followed and ‖ε‖, every SAM-family step) against the same quantities from the f64
//! reference's trajectory, for SAM, ASAM, USAM and SAMPa. SAMPa's diagnosis
//! (`--diagnose-every`): cos(∇f(x_t), ∇f(y_t)) and ‖∇f(x_t) − ∇f(y_t)‖ against f64 on every
//! diagnosed step, the same bits under serial, fused and dual, and on no other step; the
//! command line's records, count of gradient passes and panel; one-line errors.

mod common;
use common::cli::{error_line, sampa, scratch, success};
use common::{gpus, kernels, trainer};
use sampa::data::Batch;
use sampa::kernels::perturb;
use sampa::nn::{Model, reference};
use sampa::optim::reference::RefOptimizer;
use sampa::optim::{OptimizerConfig, OptimizerKind};
use sampa::train::schedule::thread::ThreadTransport;
use sampa::train::{Diagnosed, Placement, StepReport, parity};

fn model() -> Model {
    Model::mlp(24, &[16, 12], 4).unwrap()
}

fn grad(model: &Model, x: &[f64], b: &Batch) -> Vec<f64> {
    let inputs: Vec<f64> = b.pixels.iter().map(|&v| v as f64).collect();
    reference::evaluate(model, x, &inputs, &b.labels, 0.1).grad
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// Every step's report of `config` under `placement` on `steps` parity batches, diagnosing
/// every `diagnose` steps when asked.
fn reports(
    gpu: &sampa::Gpu,
    config: OptimizerConfig,
    placement: Placement,
    (steps, diagnose): (usize, Option<usize>),
) -> Vec<StepReport> {
    let m = model();
    let mut t = trainer(gpu, &m, 0.1, &m.init(5), config, 9);
    t.set_placement(gpu, placement).unwrap();
    if let Some(every) = diagnose {
        t.set_diagnosis(gpu, every).unwrap();
    }
    let mut out = Vec::new();
    for (i, b) in parity::batches(&m, steps).iter().enumerate() {
        out.extend(t.submit(gpu, b, parity::hyper(false, i)).unwrap());
    }
    out.extend(t.finish(gpu).unwrap());
    assert_eq!(out.len(), steps, "one report per step");
    out
}

#[test]
fn the_perturbations_norms_follow_the_reference() {
    // ‖g‖ is the norm of the direction the step perturbed along (SAM's gradient at x, SAMPa's
    // g_y from the step before), ‖ε‖ that of x̃ − x, both from the f64 trajectory; f32 rounding
    // over 12 steps keeps them within 1e-4 relative, while a norm of the wrong vector (the
    // perturbed gradient, ASAM's weighted norm) is off by percents.
    const STEPS: usize = 12;
    let m = model();
    let batches = parity::batches(&m, STEPS);
    let sam = |adaptive: bool, unnormalized: bool, rho: f32| OptimizerConfig {
        kind: OptimizerKind::Sam,
        adaptive,
        unnormalized,
        rho,
        ..Default::default()
    };
    let sampa = OptimizerConfig {
        kind: OptimizerKind::Sampa,
        ..Default::default()
    };
    let cases = [
        sam(false, false, 0.05),
        sam(true, false, 0.5),
        sam(false, true, 0.05),
        sampa,
    ];
    for gpu in &gpus() {
        for config in cases {
            let got = reports(gpu, config, Placement::Serial, (STEPS, None));
            let mut r = RefOptimizer::new(config, &m.init(5), 9);
            for (t, b) in batches.iter().enumerate() {
                let d = match config.kind {
                    OptimizerKind::Sampa => r.carried.clone(),
                    _ => grad(&m, &r.x, b),
                };
                let xt = perturb::reference(config.perturbation(), &r.x, &d);
                let eps: Vec<f64> = xt.iter().zip(&r.x).map(|(a, b)| a - b).collect();
                let want = [norm(&d), norm(&eps)];
                let n = got[t]
                    .perturbation
                    .expect("a SAM-family step reports its norms");
                for (what, g, w) in [("‖g‖", n.grad, want[0]), ("‖ε‖", n.eps, want[1])] {
                    assert!(
                        (g as f64 - w).abs() <= 1e-4 * w + 1e-9,
                        "{}: {} step {}: {what} = {g}, f64 {w}",
                        gpu.adapter.short(),
                        config.label(),
                        t + 1
                    );
                }
                r.step(&m, 0.1, b, parity::hyper(false, t));
            }
        }
        let sgd = reports(
            gpu,
            OptimizerConfig::default(),
            Placement::Serial,
            (2, None),
        );
        assert!(
            sgd.iter().all(|r| r.perturbation.is_none()),
            "SGD perturbs nothing"
        );
    }
}

/// The f64 reference's diagnosis on every `every`-th of `steps` steps: ∇f(x_t; B_t) at the
/// step's starting point against the g_y the step computes.
fn reference_diagnosis(config: OptimizerConfig, steps: usize, every: usize) -> Vec<[f64; 2]> {
    let m = model();
    let mut r = RefOptimizer::new(config, &m.init(5), 9);
    let mut out = Vec::new();
    for (t, b) in parity::batches(&m, steps).iter().enumerate() {
        let x = r.x.clone();
        r.step(&m, 0.1, b, parity::hyper(false, t));
        if (t + 1) % every == 0 {
            let (gx, gy) = (grad(&m, &x, b), &r.carried);
            let dot: f64 = gx.iter().zip(gy).map(|(a, b)| a * b).sum();
            let diff: Vec<f64> = gx.iter().zip(gy).map(|(a, b)| a - b).collect();
            out.push([dot / (norm(&gx) * norm(gy)), norm(&diff)]);
        }
    }
    out
}

#[test]
fn the_diagnosis_follows_the_reference_under_every_schedule() {
    const STEPS: usize = 15;
    const EVERY: usize = 4;
    let config = OptimizerConfig {
        kind: OptimizerKind::Sampa,
        ..Default::default()
    };
    let want = reference_diagnosis(config, STEPS, EVERY);
    for gpu in &gpus() {
        let serial = reports(gpu, config, Placement::Serial, (STEPS, Some(EVERY)));
        let diagnosed: Vec<Diagnosed> = serial.iter().filter_map(|r| r.diagnosis).collect();
        let steps: Vec<usize> = serial
            .iter()
            .filter(|r| r.diagnosis.is_some())
            .map(|r| r.step)
            .collect();
        assert_eq!(steps, [4, 8, 12], "diagnosed steps");
        for (k, (d, w)) in diagnosed.iter().zip(&want).enumerate() {
            let at = steps[k];
            eprintln!(
                "{}: step {at}: cos {} (f64 {}), distance {} (f64 {})",
                gpu.adapter.short(),
                d.cos,
                w[0],
                d.distance,
                w[1]
            );
            assert!(
                (d.cos as f64 - w[0]).abs() <= 1e-4,
                "step {at}: cos {} against {}",
                d.cos,
                w[0]
            );
            assert!(
                (d.distance as f64 - w[1]).abs() <= 1e-3 * w[1],
                "step {at}: distance {} against {}",
                d.distance,
                w[1]
            );
        }
        // The diagnosis reads the step's gradients and moves nothing.
        let plain = reports(gpu, config, Placement::Serial, (STEPS, None));
        let losses = |r: &[StepReport]| r.iter().map(|r| (r.loss, r.norm_sq)).collect::<Vec<_>>();
        assert_eq!(
            losses(&serial),
            losses(&plain),
            "the diagnosis changed the run"
        );
        let fused = reports(gpu, config, Placement::Fused, (STEPS, Some(EVERY)));
        assert!(fused == serial, "{}: fused differs", gpu.adapter.short());
        if gpu.adapter.backend == "Vulkan" {
            let how = (model(), 0.1, kernels(gpu));
            let worker = ThreadTransport::spawn_failing_at(gpu.clone(), how, None).unwrap();
            let dual = Placement::Dual(Box::new(worker));
            let dual = reports(gpu, config, dual, (STEPS, Some(EVERY)));
            assert!(dual == serial, "{}: dual differs", gpu.adapter.short());
        }
    }
}

#[test]
fn a_diagnosed_run_logs_counts_and_draws_it() {
    let out = scratch("diagnostics", "run");
    let run = success(&sampa(&[
        "train",
        "--optimizer",
        "sampa",
        "--steps",
        "12",
        "--train-limit",
        "1536",
        "--test-limit",
        "256",
        "--diagnose-every",
        "5",
        "--log-every",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(run.contains("diagnosis: every 5 steps"), "{run}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        records.iter().filter(|r| r["kind"] == kind).collect()
    };
    let diagnosed: Vec<u64> = of("diagnosis")
        .iter()
        .map(|r| r["step"].as_u64().unwrap())
        .collect();
    assert_eq!(diagnosed, [5, 10]);
    for r in of("diagnosis") {
        let cos = r["cos"].as_f64().unwrap();
        assert!(cos > 0.0 && cos <= 1.0 + 1e-6, "cos {cos}");
        assert!(r["distance"].as_f64().unwrap() > 0.0);
    }
    // Every logged step has the perturbation's norms; ‖ε‖ is ρ but for the first step, whose
    // g_y is zero.
    let steps = of("step");
    assert_eq!(steps.len(), 3);
    for r in steps {
        let eps = r["eps_norm"].as_f64().unwrap();
        assert!((eps - 0.05).abs() < 1e-6, "{r}");
        assert!(r["grad_norm"].as_f64().unwrap() > 0.0, "{r}");
    }
    // 12 steps of two passes, one in sequence, and the diagnosis's two.
    let epoch = &of("epoch")[0];
    assert_eq!(epoch["grad_evals"], 26);
    assert_eq!(epoch["sequential_grad_evals"], 14);
    let png = image::open(out.join("curves.png")).unwrap();
    assert_eq!(png.width(), 1500, "the curves gain the diagnosis's panels");
}

#[test]
fn diagnosis_settings_are_one_line_errors() {
    let out = scratch("diagnostics", "bad");
    let out = out.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--optimizer", "sam", "--diagnose-every", "5"],
            "no look-ahead point y",
        ),
        (
            &[
                "--optimizer",
                "sampa",
                "--m-sharpness",
                "16",
                "--diagnose-every",
                "5",
            ],
            "--diagnose-every does not combine with --m-sharpness",
        ),
        (
            &["--optimizer", "sampa", "--diagnose-every", "0"],
            "--diagnose-every must be at least 1",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["train", "--steps", "2", "--out", out];
        all.extend(args);
        let line = error_line(&sampa(&all));
        assert!(line.contains(want), "{args:?}: {line}");
    }
    assert!(!std::path::Path::new(out).join("metrics.jsonl").exists());
}

#[test]
fn the_first_diagnosed_step_of_the_mlp_on_the_embedded_data_matches_f64() {
    // The acceptance run's model and data (the MLP, SAMPa-0.2, the embedded Fashion-MNIST in
    // the run's shuffled order, batches of 128), diagnosed at step 10 as `--diagnose-every
    // 10` does, against the f64 reference's cosine.
    const EVERY: usize = 10;
    let splits = sampa::data::idx::embedded().unwrap();
    let opts = sampa::data::BatchOptions {
        batch: 128,
        shuffle: true,
        seed: 0,
        normalize: None,
        augment: false,
        cutout: false,
        imagenet: false,
    };
    let mut batcher = sampa::data::Batcher::new(&splits.train, opts, 0);
    let batches: Vec<Batch> = (0..EVERY)
        .map(|_| {
            let mut b = Batch::default();
            assert!(batcher.next_into(&mut b).unwrap());
            b
        })
        .collect();
    let m = Model::mlp(784, &[256, 256], 10).unwrap();
    let config = OptimizerConfig {
        kind: OptimizerKind::Sampa,
        ..Default::default()
    };
    let hyper = common::residual_hyper();
    let mut r = RefOptimizer::new(config, &m.init(0), 0);
    let mut x = Vec::new();
    for b in &batches {
        x = r.x.clone();
        r.step(&m, 0.0, b, hyper);
    }
    let gx = {
        let b = &batches[EVERY - 1];
        let inputs: Vec<f64> = b.pixels.iter().map(|&v| v as f64).collect();
        reference::evaluate(&m, &x, &inputs, &b.labels, 0.0).grad
    };
    let dot: f64 = gx.iter().zip(&r.carried).map(|(a, b)| a * b).sum();
    let want = dot / (norm(&gx) * norm(&r.carried));
    for gpu in &gpus() {
        let mut t = trainer(gpu, &m, 0.0, &m.init(0), config, 0);
        t.set_diagnosis(gpu, EVERY).unwrap();
        let mut reports = Vec::new();
        for b in &batches {
            reports.extend(t.submit(gpu, b, hyper).unwrap());
        }
        reports.extend(t.finish(gpu).unwrap());
        let got = reports[EVERY - 1]
            .diagnosis
            .expect("step 10 is diagnosed")
            .cos;
        eprintln!("{}: cos at step 10 {got}, f64 {want}", gpu.adapter.short());
        assert!(
            (got as f64 - want).abs() <= 1e-4,
            "cos {got} against {want}"
        );
    }
}
