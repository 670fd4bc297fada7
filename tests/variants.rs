#![cfg(not(target_arch = "wasm32"))]
//! The SAM variants beside SAM and SAMPa. VaSSO (`--vasso-theta`): SAM and SAMPa perturbing
//! along an exponential average of the gradients they would perturb along. GSAM (`--optimizer
//! gsam`): SAM's step less α times the gradient's part orthogonal to the perturbed one.
//! LookSAM: SAM every k-th step, the kept orthogonal part reused between. AE-SAM: SAM on the
//! steps whose gradient norm stands out. ESAM: a random part of the tensors perturbed, the
//! second gradient on the examples whose loss rose most. m-sharpness: SAM per group of the
//! batch. Each against the f64 reference over 24 steps on every
//! adapter; each reducing to SAM (or SAMPa) bit for bit at its neutral setting, and not
//! otherwise; SAMPa with VaSSO giving serial's bits under fused and dual; the state-bearing
//! runs resumed mid-way ending with the uninterrupted run's bits; bad values one-line errors.

mod common;
use common::cli::{error_line, sampa, scratch, success};
use common::{gpus, kernels, trainer};
use sampa::nn::Model;
use sampa::optim::{OptimizerConfig, OptimizerKind, PerturbOnly};
use sampa::train::schedule::thread::ThreadTransport;
use sampa::train::{Placement, parity};

const STEPS: usize = 24;

fn vasso(kind: OptimizerKind, theta: f32) -> OptimizerConfig {
    OptimizerConfig {
        kind,
        vasso_theta: Some(theta),
        ..Default::default()
    }
}

fn model() -> Model {
    Model::mlp(24, &[16, 12], 4).unwrap()
}

/// Each of `cases` on `model` for `steps` steps on every adapter against the f64 reference:
/// within 1e-5 of the largest parameter, the reported losses within 1e-4, and moved.
fn follows_reference(model: &Model, steps: usize, cases: &[OptimizerConfig]) {
    const TOL: f64 = 1e-5;
    let x0 = model.init(5);
    let data = parity::batches(model, steps);
    for gpu in &gpus() {
        for &config in cases {
            let spec = common::spec(gpu, model, 0.1, config, 9);
            let run = parity::parity(gpu, spec, &x0, &data, |t| parity::hyper(false, t));
            let p = gpu.block_on(run).unwrap();
            eprintln!(
                "{}: {}: max |x_gpu - x_f64| / max|x| after {steps} steps = {:.2e}",
                gpu.adapter.short(),
                config.label(),
                p.params
            );
            assert!(p.moved > 1e-3, "{config:?}: barely moved ({})", p.moved);
            assert!(p.loss < 1e-4, "{config:?}: loss off by {:.2e}", p.loss);
            assert!(p.params <= TOL, "{config:?}: {:.2e} > {TOL:.0e}", p.params);
        }
    }
}

#[test]
fn every_variant_follows_its_f64_reference() {
    // tests/optim.rs's tolerance: f32 rounding over 24 steps stays near 1e-6 of the largest
    // parameter, while a slip in the average (a missing step, a wrong weight) moves them 1e-3.
    let model = model();
    let gsam = |alpha| OptimizerConfig {
        kind: OptimizerKind::Gsam,
        gsam_alpha: Some(alpha),
        ..Default::default()
    };
    let cases = [
        gsam(0.1),
        gsam(0.8),
        vasso(OptimizerKind::Sam, 0.5),
        vasso(OptimizerKind::Sampa, 0.5),
        OptimizerConfig {
            lambda: 0.0,
            ..vasso(OptimizerKind::Sampa, 0.1)
        },
        OptimizerConfig {
            adaptive: true,
            rho: 0.5,
            ..vasso(OptimizerKind::Sam, 0.3)
        },
    ];
    follows_reference(&model, STEPS, &cases);
}

fn looksam(k: usize, alpha: f32) -> OptimizerConfig {
    OptimizerConfig {
        kind: OptimizerKind::LookSam,
        looksam_k: Some(k),
        looksam_alpha: Some(alpha),
        ..Default::default()
    }
}

fn aesam(c0: f32, c1: f32) -> OptimizerConfig {
    OptimizerConfig {
        kind: OptimizerKind::AeSam,
        aesam_c0: Some(c0),
        aesam_c1: Some(c1),
        ..Default::default()
    }
}

#[test]
fn looksam_and_aesam_follow_their_f64_references() {
    // Both forms of their steps, chosen as the reference chooses: a LookSAM step that reused
    // the wrong g_v, or an AE-SAM decision the reference did not make, moves the parameters
    // by 1e-3.
    let cases = [
        looksam(5, 0.7),
        OptimizerConfig {
            adaptive: true,
            rho: 0.5,
            ..looksam(3, 1.5)
        },
        aesam(-1.0, 1.0),
        aesam(0.0, 2.0),
    ];
    follows_reference(&model(), STEPS, &cases);
}

fn esam(beta: f32, gamma: f32) -> OptimizerConfig {
    OptimizerConfig {
        kind: OptimizerKind::Esam,
        esam_beta: Some(beta),
        esam_gamma: Some(gamma),
        ..Default::default()
    }
}

fn m_sharpness(m: usize) -> OptimizerConfig {
    OptimizerConfig {
        kind: OptimizerKind::Sam,
        m_sharpness: Some(m),
        ..Default::default()
    }
}

/// SAMPa-0.2 with m-sharpness.
fn sampa_m(m: usize) -> OptimizerConfig {
    OptimizerConfig {
        kind: OptimizerKind::Sampa,
        ..m_sharpness(m)
    }
}

#[test]
fn m_sharpness_follows_its_f64_reference_with_sam_and_sampa() {
    // Groups of 4 and 8 in batches of 16, and the short batch of 5 as groups of 4 and 1 (or
    // one of 5): a group perturbed by another's gradient, or a mean weighted wrongly, moves the
    // parameters by 1e-3, and the reported loss is the whole batch's. SAMPa's steps around
    // the short batch pair 4 groups with 2 and 2 with 4.
    let cases = [
        sampa_m(4),
        OptimizerConfig {
            lambda: 0.5,
            lookahead: sampa::optim::LookaheadMode::Paper,
            ..sampa_m(8)
        },
        m_sharpness(4),
        OptimizerConfig {
            adaptive: true,
            rho: 0.5,
            ..m_sharpness(8)
        },
        OptimizerConfig {
            unnormalized: true,
            ..m_sharpness(2)
        },
    ];
    follows_reference(&model(), STEPS, &cases);
}

#[test]
fn esam_follows_its_f64_reference() {
    // The tensors drawn, the examples chosen (ties and all) and the subset's own gradient as
    // the reference has them: a different draw or choice moves the parameters by 1e-3.
    let cases = [
        esam(0.6, 0.5),
        esam(1.0, 0.3),
        esam(0.4, 1.0),
        OptimizerConfig {
            unnormalized: true,
            ..esam(0.5, 0.7)
        },
    ];
    follows_reference(&model(), STEPS, &cases);
}

#[test]
fn aesam_takes_both_forms_where_the_reference_does() {
    let m = model();
    let data = parity::batches(&m, STEPS);
    for gpu in &gpus() {
        for config in [aesam(-1.0, 1.0), aesam(0.0, 2.0)] {
            let mut t = trainer(gpu, &m, 0.1, &m.init(5), config, 9);
            t.set_run_steps(STEPS);
            let mut r = sampa::optim::reference::RefOptimizer::new(config, &m.init(5), 9);
            r.run_steps = Some(STEPS);
            for (i, b) in data.iter().enumerate() {
                t.step(gpu, b, parity::hyper(false, i)).unwrap();
                r.step(&m, 0.1, b, parity::hyper(false, i));
            }
            let sam = t.full_steps();
            eprintln!(
                "{}: {}: {sam} SAM steps of {STEPS}",
                gpu.adapter.short(),
                config.label()
            );
            assert_eq!(sam, r.aesam.sam_steps, "{}: SAM steps", config.label());
            assert!(
                0 < sam && sam < STEPS,
                "{}: {sam} SAM steps",
                config.label()
            );
            // SAM steps take two gradients in sequence, the others one.
            let other = STEPS - sam;
            assert_eq!(t.grad_evals(), (2 * sam + other, 2 * sam + other));
        }
        let mut t = trainer(gpu, &m, 0.1, &m.init(5), looksam(5, 0.7), 9);
        for (i, b) in data.iter().take(11).enumerate() {
            t.step(gpu, b, parity::hyper(false, i)).unwrap();
        }
        assert_eq!(t.full_steps(), 3, "LookSAM's SAM steps: 1, 6 and 11");
        assert_eq!(t.grad_evals(), (14, 14));
    }
}

#[test]
fn each_variant_at_its_neutral_setting_is_sam_bit_for_bit_and_otherwise_not() {
    // GSAM with α = 0, LookSAM with k = 1, ESAM with β = γ = 1 and m-sharpness over the whole
    // batch (16; the short batch of 5 is one group either way) compute SAM's step; any other
    // setting moves the parameters by more than 1e-5 in 8 steps.
    let gsam = |alpha| OptimizerConfig {
        kind: OptimizerKind::Gsam,
        gsam_alpha: Some(alpha),
        ..Default::default()
    };
    let cases = [
        (gsam(0.0), vec![gsam(0.5)]),
        (looksam(1, 0.7), vec![looksam(5, 0.7)]),
        (esam(1.0, 1.0), vec![esam(0.6, 1.0), esam(1.0, 0.5)]),
        (m_sharpness(16), vec![m_sharpness(4)]),
    ];
    let sampa = OptimizerConfig {
        kind: OptimizerKind::Sampa,
        ..Default::default()
    };
    let sam = OptimizerConfig {
        kind: OptimizerKind::Sam,
        ..Default::default()
    };
    for gpu in &gpus() {
        let sam = params_after(gpu, sam, Placement::Serial);
        for (neutral, others) in &cases {
            let at = params_after(gpu, *neutral, Placement::Serial);
            let name = gpu.adapter.short();
            assert!(at == sam, "{name}: {} is not SAM", neutral.label());
            for other in others {
                let moved = max_difference(&params_after(gpu, *other, Placement::Serial), &sam);
                assert!(
                    moved > 1e-5,
                    "{name}: {} is SAM ({moved:.1e})",
                    other.label()
                );
            }
        }
        // SAMPa with one group per batch keeps its one g_y as its own, bit for bit.
        let plain = params_after(gpu, sampa, Placement::Serial);
        let one = params_after(gpu, sampa_m(16), Placement::Serial);
        assert!(
            one == plain,
            "{}: SAMPa with m 16 is not SAMPa",
            gpu.adapter.short()
        );
        let moved = max_difference(&params_after(gpu, sampa_m(4), Placement::Serial), &plain);
        assert!(
            moved > 1e-5,
            "{}: SAMPa with m 4 is SAMPa",
            gpu.adapter.short()
        );
    }
}

/// The largest elementwise difference of two parameter vectors.
fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max)
}

/// The parameters after 8 steps of `config` under `placement`.
fn params_after(gpu: &sampa::Gpu, config: OptimizerConfig, placement: Placement) -> Vec<f32> {
    params_of(gpu, &model(), config, placement)
}

/// The parameters of `m` after 8 steps of `config` under `placement`.
fn params_of(
    gpu: &sampa::Gpu,
    m: &Model,
    config: OptimizerConfig,
    placement: Placement,
) -> Vec<f32> {
    let mut t = trainer(gpu, m, 0.1, &m.init(2), config, 0);
    t.set_placement(gpu, placement).unwrap();
    for (i, b) in parity::batches(m, 8).iter().enumerate() {
        t.step(gpu, b, parity::hyper(false, i)).unwrap();
    }
    gpu.read(t.params()).unwrap()
}

#[test]
fn vasso_theta_one_is_the_plain_optimizer_bit_for_bit_and_less_is_not() {
    for gpu in &gpus() {
        for kind in [OptimizerKind::Sam, OptimizerKind::Sampa] {
            let plain = OptimizerConfig {
                kind,
                ..Default::default()
            };
            let plain = params_after(gpu, plain, Placement::Serial);
            let one = params_after(gpu, vasso(kind, 1.0), Placement::Serial);
            assert!(
                one == plain,
                "{}: {kind:?} with --vasso-theta 1 differs from {kind:?}",
                gpu.adapter.short()
            );
            let half = params_after(gpu, vasso(kind, 0.5), Placement::Serial);
            let moved = max_difference(&half, &plain);
            assert!(
                moved > 1e-5,
                "{}: {kind:?} with --vasso-theta 0.5 is {kind:?} (max difference {moved:.1e}): \
                 the average is not used",
                gpu.adapter.short()
            );
        }
    }
}

/// SAM-ON's settings: `kind` perturbing the normalisation layers only.
fn sam_on(kind: OptimizerKind) -> OptimizerConfig {
    OptimizerConfig {
        kind,
        perturb_only: Some(PerturbOnly::Norm),
        ..Default::default()
    }
}

#[test]
fn sam_on_and_m_sharpness_follow_their_f64_references_on_a_resnet() {
    // A ResNet-8 on 8x8 images: BatchNorm's parameters are what SAM-ON perturbs (the MLP has
    // none). The tolerance is the MLP's, over 8 steps, in which the f32 run stays within 3e-7
    // of f64 on both adapters. Run longer, SAM-ON's trajectories part at one step by 1e-4
    // (step 10 to 14 here, SAM's and SAMPa's at different steps) and then grow apart: an
    // activation within f32 rounding of 0 goes the other way through a ReLU in one of the
    // runs, as in the deep BatchNorm networks that tests/densenet.rs checks layer by layer.
    let model = Model::resnet(8, 3, 8, 8, 4).unwrap();
    let cases = [
        sam_on(OptimizerKind::Sam),
        sam_on(OptimizerKind::Sampa),
        OptimizerConfig {
            vasso_theta: Some(0.5),
            ..sam_on(OptimizerKind::Sampa)
        },
        // Each group normalised by its own statistics, and SAM-ON per group. (Groups of 8
        // part from f64 by 2e-5 at step 5 in one jump, the same kink: 1.6e-7 before it.)
        m_sharpness(4),
        OptimizerConfig {
            m_sharpness: Some(4),
            ..sam_on(OptimizerKind::Sam)
        },
        // Each group's g_y its own, both passes' statistics folded group by group.
        OptimizerConfig {
            m_sharpness: Some(4),
            ..sam_on(OptimizerKind::Sampa)
        },
        OptimizerConfig {
            bn_stats: Some(sampa::optim::BnStats::All),
            ..sampa_m(8)
        },
    ];
    follows_reference(&model, 8, &cases);
}

#[test]
fn sam_on_perturbs_exactly_the_batchnorm_tensors() {
    // ResNet-20: bn1 and two BatchNorms in each of nine blocks, a weight and a bias each.
    let model = Model::resnet(20, 3, 32, 32, 10).unwrap();
    let names: Vec<&str> = model
        .norm_params()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names.len(), 38, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.contains("bn") && (n.ends_with(".weight") || n.ends_with(".bias"))),
        "{names:?}"
    );
    let mask = model.norm_mask();
    let ones = mask.iter().filter(|&&m| m == 1.0).count();
    let want: usize = model.norm_params().iter().map(|p| p.len()).sum();
    assert_eq!(ones, want);
    assert_eq!(
        mask.iter().filter(|&&m| m == 0.0).count(),
        mask.len() - want
    );
    // On the GPU, SAM-ON is not SAM: the perturbation leaves the convolutions alone.
    let small = Model::resnet(8, 3, 8, 8, 4).unwrap();
    for gpu in &gpus() {
        let run = |config| {
            let mut t = trainer(gpu, &small, 0.1, &small.init(2), config, 0);
            for (i, b) in parity::batches(&small, 4).iter().enumerate() {
                t.step(gpu, b, parity::hyper(false, i)).unwrap();
            }
            gpu.read(t.params()).unwrap()
        };
        let sam = OptimizerConfig {
            kind: OptimizerKind::Sam,
            ..Default::default()
        };
        assert!(
            run(sam) != run(sam_on(OptimizerKind::Sam)),
            "{}: SAM-ON trained as SAM",
            gpu.adapter.short()
        );
    }
}

#[test]
fn sampa_with_vasso_sam_on_or_m_sharpness_gives_serials_bits_under_fused_and_dual() {
    // VaSSO on the MLP; SAM-ON on a ResNet-8, whose BatchNorm layers are what it perturbs;
    // m-sharpness on both, the ResNet's groups each normalised by their own statistics and
    // the worker's statistics folded group by group.
    let resnet = Model::resnet(8, 3, 8, 8, 4).unwrap();
    let cases = [
        (model(), vasso(OptimizerKind::Sampa, 0.5)),
        (resnet.clone(), sam_on(OptimizerKind::Sampa)),
        (model(), sampa_m(4)),
        (
            resnet,
            OptimizerConfig {
                bn_stats: Some(sampa::optim::BnStats::All),
                ..sampa_m(4)
            },
        ),
    ];
    for gpu in &gpus() {
        for (m, config) in &cases {
            let name = format!("{}: {}", gpu.adapter.short(), config.label());
            let serial = params_of(gpu, m, *config, Placement::Serial);
            let fused = params_of(gpu, m, *config, Placement::Fused);
            assert!(fused == serial, "{name}: fused differs");
            if gpu.adapter.backend == "Vulkan" {
                // The worker on a second handle of the same device (as tests/schedule.rs
                // does): the same kernels, so only the trip through host memory is new.
                let how = (m.clone(), 0.1, kernels(gpu));
                let worker = ThreadTransport::spawn_failing_at(gpu.clone(), how, None).unwrap();
                let dual = params_of(gpu, m, *config, Placement::Dual(Box::new(worker)));
                assert!(dual == serial, "{name}: dual differs");
            }
        }
    }
}

fn train_args<'a>(out: &'a str, steps: &'a str, variant: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--data",
        "embedded",
        "--train-limit",
        "256",
        "--test-limit",
        "64",
        "--batch",
        "32",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--steps",
        steps,
        "--out",
        out,
    ];
    args.extend(variant);
    args
}

/// The names in a run's checkpoint, and its metadata.
fn checkpoint(run: &std::path::Path) -> (usize, std::collections::HashMap<String, String>) {
    let bytes = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let names = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap()
        .names()
        .len();
    (names, meta.metadata().clone().unwrap_or_default())
}

#[test]
fn variant_runs_resumed_from_their_checkpoints_end_bit_identical() {
    // Each variant's state is in the checkpoint: VaSSO's average beside SAMPa's g_y and
    // LookSAM's g_v (one tensor more than their plain optimizer's), AE-SAM's statistics in
    // the metadata.
    let cases: [(&str, &[&str], &[&str], usize); 5] = [
        (
            "vasso",
            &["--optimizer", "sampa", "--vasso-theta", "0.5"],
            &["--optimizer", "sampa"],
            1,
        ),
        (
            "looksam",
            &["--optimizer", "looksam", "--looksam-k", "3"],
            &["--optimizer", "sam"],
            1,
        ),
        (
            "aesam",
            &["--optimizer", "aesam"],
            &["--optimizer", "sam"],
            0,
        ),
        ("esam", &["--optimizer", "esam"], &["--optimizer", "sam"], 0),
        // SAMPa's g_y of each of the 4 groups of a batch of 32.
        (
            "sampa-m",
            &["--optimizer", "sampa", "--m-sharpness", "8"],
            &["--optimizer", "sampa"],
            4,
        ),
    ];
    for (name, variant, plain, extra) in cases {
        let d = scratch("variants", &format!("{name}-resume"));
        let (full, part) = (d.join("full"), d.join("part"));
        let (full_s, part_s) = (full.to_str().unwrap(), part.to_str().unwrap());
        success(&sampa(&train_args(full_s, "8", variant)));
        success(&sampa(&train_args(part_s, "4", variant)));
        let (names, meta) = checkpoint(&part);
        let p = d.join("plain");
        success(&sampa(&train_args(p.to_str().unwrap(), "4", plain)));
        assert_eq!(
            names,
            checkpoint(&p).0 + extra,
            "{name}: the checkpoint's vectors"
        );
        assert_eq!(
            meta.contains_key("aesam"),
            name == "aesam",
            "{name}: {meta:?}"
        );
        let out = success(&sampa(&["train", "--resume", part_s, "--steps", "8"]));
        assert!(out.contains("at step 4"), "{out}");
        let model = |r: &std::path::Path| std::fs::read(r.join("model.safetensors")).unwrap();
        assert!(
            model(&full) == model(&part),
            "{name}: stopped at step 4 and resumed, the parameters differ from the \
             uninterrupted run's"
        );
    }
}

#[test]
fn bad_variant_settings_are_one_line_errors_naming_the_flag() {
    let d = scratch("variants", "errors");
    for (extra, want) in [
        (
            ["--optimizer", "sam", "--vasso-theta", "0"],
            "--vasso-theta must be in (0, 1], got 0",
        ),
        (
            ["--optimizer", "sampa", "--vasso-theta", "1.5"],
            "--vasso-theta must be in (0, 1], got 1.5",
        ),
        (
            ["--optimizer", "sgd", "--vasso-theta", "0.5"],
            "--vasso-theta applies to --optimizer sam and sampa",
        ),
        (
            ["--optimizer", "optsam", "--vasso-theta", "0.5"],
            "optsam has none to average",
        ),
        (
            ["--optimizer", "gsam", "--gsam-alpha", "-1"],
            "--gsam-alpha must be a non-negative number, got -1",
        ),
        (
            ["--optimizer", "sam", "--gsam-alpha", "0.1"],
            "--gsam-alpha applies to --optimizer gsam only, not sam",
        ),
        (
            ["--optimizer", "looksam", "--looksam-k", "0"],
            "--looksam-k must be at least 1",
        ),
        (
            ["--optimizer", "sam", "--looksam-k", "5"],
            "--looksam-k applies to --optimizer looksam only, not sam",
        ),
        (
            ["--optimizer", "looksam", "--looksam-alpha", "-1"],
            "--looksam-alpha must be a non-negative number, got -1",
        ),
        (
            ["--optimizer", "sampa", "--aesam-c1", "2"],
            "--aesam-c1 applies to --optimizer aesam only, not sampa",
        ),
        (
            ["--optimizer", "aesam", "--bn-stats", "x~"],
            "skips a pass of it on some steps",
        ),
        (
            ["--optimizer", "esam", "--esam-gamma", "0"],
            "--esam-gamma must be in (0, 1]",
        ),
        (
            ["--optimizer", "sam", "--esam-beta", "0.5"],
            "--esam-beta applies to --optimizer esam only, not sam",
        ),
        (
            ["--optimizer", "esam", "--adaptive", "--rho=0.5"],
            "--adaptive does not combine with --optimizer esam",
        ),
        (
            ["--optimizer", "sam", "--m-sharpness", "0"],
            "--m-sharpness must be at least 1",
        ),
        (
            ["--optimizer", "sgd", "--m-sharpness", "8"],
            "--m-sharpness applies to --optimizer sam and sampa, not sgd",
        ),
        (
            ["--optimizer", "sam", "--m-sharpness", "48"],
            "--m-sharpness must be a divisor of --batch 128, got 48",
        ),
        (
            ["--optimizer", "looksam", "--vasso-theta", "0.5"],
            "--vasso-theta applies to --optimizer sam and sampa",
        ),
    ] {
        let out = d.join(extra.join("_"));
        let mut args = vec!["train", "--data", "embedded", "--steps", "1", "--out"];
        args.push(out.to_str().unwrap());
        args.extend(extra);
        let line = error_line(&sampa(&args));
        assert!(line.contains(want), "{extra:?}: {line}");
        assert!(
            !out.exists(),
            "{extra:?}: a failed start left {}",
            out.display()
        );
    }
}
