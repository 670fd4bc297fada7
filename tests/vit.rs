#![cfg(not(target_arch = "wasm32"))]
//! Vision Transformers: their layout against timm's `VisionTransformer`, the whole network's
//! f64 gradient against finite differences, and the GPU evaluator against the f64 reference.

mod common;

use common::cli::{error_line, sampa, scratch, success, usage_error};
use common::{
    assert_close, assert_sampled_gradient, check_evaluator, check_evaluator_with, gpus, kernels,
    placements, random_batch, residual_hyper, trainer, worst_tensor,
};
use sampa::kernels::Kernels;
use sampa::kernels::adam::AdamHyper;
use sampa::kernels::matmul::Variant;
use sampa::nn::Model;
use sampa::nn::reference;
use sampa::nn::vits::VitSpec;
use sampa::optim::reference::RefOptimizer;
use sampa::optim::{BaseKind, OptimizerConfig, OptimizerKind};
use sampa::rng::Pcg;

fn vit(kind: &str, image: (usize, usize, usize), classes: usize) -> Model {
    Model::vit(VitSpec::named(kind).unwrap(), image, classes).unwrap()
}

/// timm's `state_dict` keys of a ViT with `depth` blocks, in its order.
fn timm_names(depth: usize) -> Vec<String> {
    let mut v: Vec<String> = ["cls_token", "pos_embed", "patch_embed.proj.weight"]
        .map(String::from)
        .into();
    v.push("patch_embed.proj.bias".into());
    for i in 0..depth {
        for part in [
            "norm1",
            "attn.qkv",
            "attn.proj",
            "norm2",
            "mlp.fc1",
            "mlp.fc2",
        ] {
            v.push(format!("blocks.{i}.{part}.weight"));
            v.push(format!("blocks.{i}.{part}.bias"));
        }
    }
    v.extend(["norm.weight", "norm.bias", "head.weight", "head.bias"].map(String::from));
    v
}

#[test]
fn vit_layout_and_initialisation_follow_timm() {
    let m = vit("vit-2-64-4-p7", (1, 28, 28), 10);
    let mut names: Vec<String> = m.params.iter().map(|p| p.name.clone()).collect();
    let mut want = timm_names(2);
    names.sort();
    want.sort();
    assert_eq!(names, want);
    // timm.create_model('vit_tiny_patch16_224', ...) with these sizes counts:
    // patch 64·49 + 64, cls 64, pos 17·64, per block 2·128 + (64·192 + 192) + (64·64 + 64)
    // + (64·256 + 256) + (256·64 + 64), norm 128, head 64·10 + 10.
    assert_eq!(m.param_count(), 3200 + 64 + 1088 + 2 * 49_984 + 128 + 650);
    assert_eq!(m.param("pos_embed").unwrap().shape, [1, 17, 64]);
    assert_eq!(m.param("cls_token").unwrap().shape, [1, 1, 64]);
    assert_eq!(
        m.param("patch_embed.proj.weight").unwrap().shape,
        [64, 1, 7, 7]
    );
    assert_eq!(
        m.param("blocks.1.attn.qkv.weight").unwrap().shape,
        [192, 64]
    );
    assert_eq!(m.param("blocks.0.mlp.fc2.weight").unwrap().shape, [64, 256]);
    assert!(m.state.is_empty(), "a ViT has no running statistics");
    // timm's init: linear weights and pos_embed N(0, 0.02²) truncated at ±2, biases 0,
    // cls_token N(0, 1e-12), LayerNorm 1 and 0, the patch convolution U(±1/√fan_in).
    let x = m.init(3);
    let values = |n: &str| {
        let p = m.param(n).unwrap();
        x[p.offset..p.offset + p.len()].to_vec()
    };
    let std =
        |v: &[f32]| (v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    for (n, want) in [
        ("blocks.0.attn.qkv.weight", 0.02),
        ("blocks.1.mlp.fc1.weight", 0.02),
        ("pos_embed", 0.02),
        ("cls_token", 1e-6),
        ("patch_embed.proj.weight", 1.0 / (49.0f64 * 3.0).sqrt()),
    ] {
        let s = std(&values(n));
        assert!((s / want - 1.0).abs() < 0.25, "{n}: std {s}, want {want}");
    }
    for n in [
        "blocks.0.attn.qkv.bias",
        "blocks.1.mlp.fc2.bias",
        "head.bias",
        "norm.bias",
    ] {
        assert!(values(n).iter().all(|&v| v == 0.0), "{n} starts at 0");
    }
    assert!(values("blocks.1.norm2.weight").iter().all(|&v| v == 1.0));
    assert!(values("patch_embed.proj.bias").iter().any(|&v| v != 0.0));
}

#[test]
fn vit_names_and_shapes_are_checked() {
    let e = |kind: &str, image| {
        let spec = VitSpec::named(kind);
        match spec {
            Ok(s) => Model::vit(s, image, 10).unwrap_err().to_string(),
            Err(e) => e.to_string(),
        }
    };
    let msg = e("vit-2-64-4-p7", (3, 32, 32));
    assert!(
        msg.contains("patch side 7") && msg.contains("--image-size"),
        "{msg}"
    );
    let msg = e("vit-2-64-5-p7", (1, 28, 28));
    assert!(msg.contains("5 heads do not divide the width 64"), "{msg}");
    let msg = e("vit-2-64-4-7", (1, 28, 28));
    assert!(msg.contains("vit-DEPTH-WIDTH-HEADS-pPATCH"), "{msg}");
    let presets = [
        ("vit-tiny", (12, 192, 3, 16)),
        ("vit-small", (12, 384, 6, 16)),
        ("vit-base", (12, 768, 12, 16)),
    ];
    for (name, (depth, width, heads, patch)) in presets {
        let want = VitSpec {
            depth,
            width,
            heads,
            patch,
        };
        assert_eq!(VitSpec::named(name).unwrap(), want);
    }
    // ViT-B/16 at 224 px: timm counts 85,806,346 parameters with a 10-class head.
    let base = vit("vit-base", (3, 224, 224), 10);
    assert_eq!(base.param_count(), 85_806_346);
}

#[test]
fn vit_gradient_matches_finite_differences_on_sampled_coordinates() {
    let model = vit("vit-2-64-4-p7", (1, 28, 28), 10);
    let mut rng = Pcg::new(38, 0);
    // Larger weights than timm's start, so every part's gradient is well above rounding.
    let params: Vec<f64> = model
        .init(5)
        .iter()
        .map(|&v| v as f64 * 4.0 + 0.01 * rng.normal() as f64)
        .collect();
    let inputs: Vec<f64> = (0..2 * 28 * 28).map(|_| rng.normal() as f64).collect();
    assert_sampled_gradient(&model, &params, (&inputs, 0), 1e-5);
}

#[test]
fn gpu_vit_matches_cpu_reference() {
    for gpu in &gpus() {
        check_evaluator(gpu, &vit("vit-2-64-4-p7", (1, 28, 28), 10), 4);
        check_evaluator(gpu, &vit("vit-1-48-3-p4", (3, 8, 8), 5), 3);
        // Every product on the tiled kernels, the patch convolution through im2col.
        let tiled = Kernels::uniform(Variant::Tiled, kernels(gpu).vectors);
        check_evaluator_with(gpu, &vit("vit-1-48-3-p4", (3, 8, 8), 5), 3, tiled);
    }
}

/// SGD, SAM and SAMPa-0.2 on vit-2-64-4-p7 for 5 steps (SGD's step, lr 0.05, momentum 0.9):
/// every schedule (the `dual` worker on the other adapter) follows the f64 optimizer's
/// trajectory within the ResNet tests' tolerances.
#[test]
fn vit_training_follows_the_f64_optimizer_under_every_schedule() {
    let gpus = gpus();
    let (gpu, worker) = (&gpus[0], gpus.get(1).unwrap_or(&gpus[0]));
    let m = vit("vit-2-64-4-p7", (1, 28, 28), 10);
    let mut rng = Pcg::new(12, 0);
    let data: Vec<_> = (0..5)
        .map(|t| random_batch(&mut rng, if t == 2 { 3 } else { 4 }, m.input, m.classes))
        .collect();
    let x0 = m.init(8);
    for kind in [OptimizerKind::Sgd, OptimizerKind::Sam, OptimizerKind::Sampa] {
        let config = OptimizerConfig {
            kind,
            ..Default::default()
        };
        let mut r = RefOptimizer::new(config, &x0, 7);
        for b in &data {
            r.step(&m, 0.0, b, residual_hyper());
        }
        for placement in placements(kind, &m, worker) {
            let what = format!("{} {placement:?}", config.label());
            let mut t = trainer(gpu, &m, 0.0, &x0, config, 7);
            t.set_placement(gpu, placement).unwrap();
            for b in &data {
                t.step(gpu, b, residual_hyper()).unwrap();
            }
            let x = t.state(gpu).unwrap().x;
            let moved = x0
                .iter()
                .zip(&r.x)
                .any(|(a, b)| (*a as f64 - b).abs() > 1e-3);
            assert!(moved, "{what}: the reference did not move");
            assert_close(&what, &x, &r.x, 1e-5, 1e-4);
        }
    }
}

/// AdamW under SAMPa-0.2 with `--no-wd-1d` on vit-2-64-4-p7 for 5 steps, under every schedule,
/// against the f64 optimizer, tensor by tensor: the RMS error over the RMS distance the f64 run
/// moved. AdamW's first step moves each coordinate by about lr·g/(|g| + eps), so a coordinate
/// whose gradient is f32 rounding noise around an exact zero (the attention key bias's, since
/// softmax ignores a shift common to a row) moves by up to lr either way in f32 while f64
/// leaves it: those coordinates, whose f64 gradient at x0 is within 1e-6 of their tensor's
/// largest (8 times f32's rounding), are left out, and the test says how many. The decay (0.5)
/// is large enough that decaying an exempt tensor moves it by half its distance and sparing a
/// decayed one by a few percent.
#[test]
fn adamw_sparing_1d_tensors_follows_the_f64_optimizer_tensor_by_tensor() {
    let gpus = gpus();
    let (gpu, worker) = (&gpus[0], gpus.get(1).unwrap_or(&gpus[0]));
    let m = vit("vit-2-64-4-p7", (1, 28, 28), 10);
    let mut rng = Pcg::new(13, 0);
    let data: Vec<_> = (0..5)
        .map(|_| random_batch(&mut rng, 4, m.input, m.classes))
        .collect();
    let x0 = m.init(8);
    let hyper = AdamHyper {
        lr: 1e-3,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.5,
        decoupled: true,
    };
    let config = OptimizerConfig {
        kind: OptimizerKind::Sampa,
        base: BaseKind::AdamW,
        no_wd_1d: true,
        ..Default::default()
    };
    let mut r = RefOptimizer::new(config, &x0, 7);
    for b in &data {
        r.step(&m, 0.0, b, hyper);
    }
    let x0_64: Vec<f64> = x0.iter().map(|&v| v as f64).collect();
    let inputs: Vec<f64> = data[0].pixels.iter().map(|&v| v as f64).collect();
    let g0 = reference::evaluate(&m, &x0_64, &inputs, &data[0].labels, 0.0).grad;
    let mut kept = vec![true; g0.len()];
    for p in &m.params {
        let g = &g0[p.offset..p.offset + p.len()];
        let largest = g.iter().fold(0.0f64, |a, g| a.max(g.abs()));
        for (k, g) in kept[p.offset..].iter_mut().zip(g) {
            *k = g.abs() > 1e-6 * largest;
        }
    }
    let left_out = kept.iter().filter(|k| !**k).count();
    eprintln!("{left_out} coordinates with a gradient at rounding level left out");

    // The key biases (2 blocks × 64) at least, and not much more.
    assert!((128..400).contains(&left_out), "{left_out} left out");
    for placement in placements(OptimizerKind::Sampa, &m, worker) {
        let what = format!("{placement:?}");
        let mut t = trainer(gpu, &m, 0.0, &x0, config, 7);
        t.set_placement(gpu, placement).unwrap();
        for b in &data {
            t.step(gpu, b, hyper).unwrap();
        }
        let x = t.state(gpu).unwrap().x;
        let worst = worst_tensor(&m, (&x, &r.x, &x0_64), &kept, &[]);
        eprintln!(
            "{what}: worst RMS error / RMS distance {:.2e} ({})",
            worst.0, worst.1
        );
        assert!(worst.0 < 1e-3, "{what}: {} off by {:.2e}", worst.1, worst.0);
    }
}

/// `sampa train` with a ViT on the embedded data (AdamW, SAMPa), its file with timm's names,
/// `sampa eval` on it and a resumed run; and the one-line errors of ViT settings.
#[test]
fn vit_trains_evaluates_and_resumes_from_the_command_line() {
    let d = scratch("vit", "cli");
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    let args = [
        "train",
        "--data",
        "embedded",
        "--model",
        "vit-1-32-2-p7",
        "--base",
        "adamw",
        "--optimizer",
        "sampa",
        "--lr",
        "1e-3",
        "--wd",
        "0.05",
        "--no-wd-1d",
        "--batch",
        "16",
        "--steps",
        "4",
        "--out",
        run_s,
    ];
    let out = success(&sampa(&args));
    assert!(
        out.contains("vit-1-32-2-p7 1×28×28→10") && out.contains("done: 4 steps"),
        "{out}"
    );
    // One block: cls_token, pos_embed, the patch bias, 8 in the block, the final norm's 2 and
    // the head's bias.
    let spared = "--no-wd-1d: --wd 0.05 spares 14 of 20 tensors";
    assert!(out.contains(spared), "{out}");
    let bytes = std::fs::read(run.join("model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, shape) in [
        ("cls_token", vec![1, 1, 32]),
        ("pos_embed", vec![1, 17, 32]),
        ("patch_embed.proj.weight", vec![32, 1, 7, 7]),
        ("blocks.0.attn.qkv.weight", vec![96, 32]),
        ("blocks.0.mlp.fc1.bias", vec![128]),
        ("norm.weight", vec![32]),
        ("head.weight", vec![10, 32]),
    ] {
        assert_eq!(file.tensor(name).unwrap().shape(), &shape[..], "{name}");
    }
    let model = run.join("model.safetensors");
    let eval = success(&sampa(&["eval", "--model", model.to_str().unwrap()]));
    assert!(eval.contains("accuracy"), "{eval}");
    let resumed = success(&sampa(&["train", "--resume", run_s, "--steps", "6"]));
    assert!(resumed.contains("done: 6 steps"), "{resumed}");
    assert!(
        resumed.contains(spared),
        "the resumed run forgot --no-wd-1d: {resumed}"
    );

    let fail = |extra: &[&str]| {
        let args = [&["train", "--data", "embedded", "--steps", "1"], extra].concat();
        error_line(&sampa(&args))
    };
    let line = fail(&["--model", "vit-1-32-2-p8"]);
    assert!(
        line.contains("patch side 8") && line.contains("28×28"),
        "{line}"
    );
    let line = usage_error(&sampa(&["train", "--model", "vit-1-30-4-p7"]));
    assert!(
        line.contains("4 heads do not divide the width 30"),
        "{line}"
    );
    let line = fail(&["--model", "vit-1-32-2-p7", "--bn-stats", "x"]);
    assert!(
        line.contains("--bn-stats x") && line.contains("no BatchNorm"),
        "{line}"
    );
}

/// The step records of a run's metrics.jsonl: (step, loss).
fn step_losses(run: &std::path::Path) -> Vec<(u64, f64)> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "step")
        .map(|r| (r["step"].as_u64().unwrap(), r["loss"].as_f64().unwrap()))
        .collect()
}

/// A file with timm's names, 3 input channels and a 1000-class head at 224 px (written here,
/// seeded) fine-tunes on the embedded Fashion-MNIST at 32 px: the loader resamples pos_embed
/// from 14×14 patches to 2×2 as timm's resample_abs_pos_embed, sums the patch weights over the
/// channels as adapt_input_conv, and seeds a new head; the loss falls and the written file has
/// the 10-class head.
#[test]
fn a_timm_file_at_224_px_fine_tunes_at_32_px_with_a_new_head() {
    let d = scratch("vit", "fine-tune");
    let pretrained = vit("vit-2-64-4-p16", (3, 224, 224), 1000);
    let x = pretrained.init(41);
    let file = d.join("vit_224.safetensors");
    common::save_plain(&pretrained, &x, &file);

    // The loader alone: every tensor as the file has it, adapted where timm would.
    let small = vit("vit-2-64-4-p16", (1, 32, 32), 10);
    let seeded = small.init(0);
    let (y, notes) =
        sampa::run::checkpoint::pretrained::load(&small, &file, &seeded, true).unwrap();
    assert_eq!(notes.len(), 3, "{notes:?}");
    let of = |m: &Model, v: &[f32], n: &str| {
        let p = m.param(n).unwrap();
        v[p.offset..p.offset + p.len()].to_vec()
    };
    let pos = of(&pretrained, &x, "pos_embed");
    let planes: Vec<f64> = (0..64)
        .flat_map(|c| {
            (0..196)
                .map(|t| pos[64 + t * 64 + c] as f64)
                .collect::<Vec<_>>()
        })
        .collect();
    let grid = sampa::data::resample::bicubic_antialiased(&planes, 64, (14, 14), (2, 2));
    let got = of(&small, &y, "pos_embed");
    assert_eq!(got[..64], pos[..64], "the class token's embedding is kept");
    for t in 0..4 {
        for c in 0..64 {
            let want = grid[c * 4 + t];
            assert!(
                (got[64 + t * 64 + c] as f64 - want).abs() < 1e-6,
                "token {t} feature {c}"
            );
        }
    }
    let w3 = of(&pretrained, &x, "patch_embed.proj.weight");
    let w1 = of(&small, &y, "patch_embed.proj.weight");
    assert_eq!(w1.len(), 64 * 256);
    assert_eq!(w1[5], w3[5] + w3[256 + 5] + w3[512 + 5]);
    assert_eq!(
        of(&small, &y, "head.weight"),
        of(&small, &seeded, "head.weight")
    );
    assert_eq!(
        of(&small, &y, "blocks.1.mlp.fc1.weight"),
        of(&pretrained, &x, "blocks.1.mlp.fc1.weight")
    );

    let run = d.join("run");
    let args = [
        "train",
        "--data",
        "embedded",
        "--model",
        "vit-2-64-4-p16",
        "--image-size",
        "32",
        "--init",
        file.to_str().unwrap(),
        "--reset-head",
        "--base",
        "adamw",
        "--lr",
        "1e-3",
        "--wd",
        "0.05",
        "--batch",
        "64",
        "--steps",
        "24",
        "--log-every",
        "1",
        "--out",
        run.to_str().unwrap(),
    ];
    let out = success(&sampa(&args));
    assert!(
        out.contains("pos_embed resampled from 14×14 patches to 2×2")
            && out.contains("a new seeded head for 10 classes"),
        "{out}"
    );
    let losses = step_losses(&run);
    assert_eq!(losses.len(), 24);
    let mean = |v: &[(u64, f64)]| v.iter().map(|l| l.1).sum::<f64>() / v.len() as f64;
    let (first, last) = (mean(&losses[..6]), mean(&losses[18..]));
    eprintln!("fine-tuning loss: steps 1-6 {first:.3}, steps 19-24 {last:.3}");
    assert!(last < first - 0.2, "the loss falls: {first} then {last}");
    let bytes = std::fs::read(run.join("model.safetensors")).unwrap();
    let written = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(written.tensor("head.weight").unwrap().shape(), [10, 64]);
    assert_eq!(written.tensor("pos_embed").unwrap().shape(), [1, 5, 64]);

    // Without --reset-head the 1000-class head does not fit; without --init the flag is wrong.
    let fail = |extra: &[&str]| {
        let args = [
            &[
                "train",
                "--data",
                "embedded",
                "--steps",
                "1",
                "--model",
                "vit-2-64-4-p16",
                "--image-size",
                "32",
            ][..],
            extra,
        ]
        .concat();
        error_line(&sampa(&args))
    };
    let line = fail(&["--init", file.to_str().unwrap()]);
    assert!(
        line.contains("\"head.weight\" is [1000, 64]")
            && line.contains("[10, 64]")
            && line.contains("--reset-head"),
        "{line}"
    );
    let line = fail(&["--reset-head"]);
    assert!(
        line.contains("--reset-head") && line.contains("--init"),
        "{line}"
    );
}

/// ViT-S/16 at 224 px and batch 128 keeps larger buffers in each block than one binding
/// allows on this machine's adapters (128 MiB): the check before training names the largest
/// and the largest batch at which all fit. (ViT-B/16's parameters alone, 343 MB, exceed that
/// binding limit; the check says so too.)
#[test]
fn a_vit_too_large_for_the_adapter_is_refused_before_training() {
    let small = vit("vit-small", (3, 224, 224), 10);
    for gpu in &gpus() {
        let limit = gpu
            .limits
            .max_buffer_size
            .min(gpu.limits.max_storage_buffer_binding_size);
        // The MLP's 197 × 1536 activations, the largest of the block's buffers.
        let per_example = 197 * 1536 * 4;
        let fits = (limit / per_example) as usize;
        assert!(
            fits < 128,
            "{}: the test needs a smaller limit",
            gpu.adapter.short()
        );
        let check = |batch| sampa::train::fits::check_fits(gpu, &small, batch, 1, 0);
        let e = check(128).unwrap_err().to_string();
        assert!(
            e.contains("MLP's hidden activations")
                && e.contains("vit-12-384-6-p16")
                && e.contains(&format!("the largest batch that fits is {fits}")),
            "{e}"
        );
        check(fits).unwrap();
        check(fits + 1).unwrap_err();
        let base = vit("vit-base", (3, 224, 224), 10);
        let e = sampa::train::fits::check_fits(gpu, &base, 1, 1, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the parameters of vit-12-768-12-p16"), "{e}");
    }
}

/// `--reset-head` on a model with BatchNorm: the file's running statistics are the state's,
/// not unknown tensors, and every tensor but the head comes from the file.
#[test]
fn reset_head_takes_a_file_with_running_statistics() {
    let d = scratch("vit", "reset-head-resnet");
    let ten = Model::resnet(8, 3, 8, 8, 10).unwrap();
    let x = ten.init(3);
    let mut tensors = sampa::nn::weights::model_tensors(&ten, &x);
    tensors.extend(sampa::nn::weights::state_tensors(&ten, &ten.init_state()));
    let file = d.join("resnet8.safetensors");
    std::fs::write(
        &file,
        sampa::nn::weights::serialize(&tensors, None).unwrap(),
    )
    .unwrap();
    let five = Model::resnet(8, 3, 8, 8, 5).unwrap();
    let seeded = five.init(0);
    let (y, notes) = sampa::run::checkpoint::pretrained::load(&five, &file, &seeded, true).unwrap();
    assert_eq!(notes, ["a new seeded head for 5 classes"]);
    let conv = five.param("conv1.weight").unwrap();
    assert_eq!(
        y[conv.offset..conv.offset + conv.len()],
        x[conv.offset..conv.offset + conv.len()]
    );
    let head = five.param("linear.weight").unwrap();
    assert_eq!(
        y[head.offset..head.offset + head.len()],
        seeded[head.offset..head.offset + head.len()]
    );
}
