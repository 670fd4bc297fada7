#![cfg(not(target_arch = "wasm32"))]
//! `sampa train` end to end on the embedded data, determinism, --init, and bad input.

mod common;

use common::gpus;
use sampa::optim::{OptimizerConfig, OptimizerKind};
use sampa::run::{self as train, LrSchedule, TrainConfig, checkpoint};
use sampa::train::Schedule;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sampa-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn sampa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args(args)
        .env("SAMPA_ADAPTER", "vulkan")
        .output()
        .unwrap()
}

/// The run failed with exactly one `error:` line that contains every `want`.
fn assert_one_line_error(out: &Output, want: &[&str]) {
    assert!(
        !out.status.success(),
        "expected failure; stdout:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "want one error line, got:\n{err}");
    for w in want {
        assert!(lines[0].contains(w), "{:?} lacks {w:?}", lines[0]);
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn cli_trains_on_embedded_data_and_writes_the_run_directory() {
    let out_dir = tmp("cli");
    let out = sampa(&[
        "train",
        "--data",
        "embedded",
        "--epochs",
        "2",
        "--train-limit",
        "640",
        "--log-every",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .next()
            .unwrap()
            .starts_with("data: embedded Fashion-MNIST subset"),
        "{stdout}"
    );
    assert!(
        stdout.contains("epoch   2  train loss")
            && stdout.contains("grad evals 10 (sequential 10)"),
        "{stdout}"
    );

    let metrics = std::fs::read_to_string(out_dir.join("metrics.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let epochs: Vec<_> = records.iter().filter(|r| r["kind"] == "epoch").collect();
    let steps: Vec<_> = records.iter().filter(|r| r["kind"] == "step").collect();
    assert_eq!((epochs.len(), steps.len()), (2, 5));
    let acc = epochs[1]["test_accuracy"].as_f64().unwrap();
    assert!(
        acc > 0.5,
        "two short epochs on 640 images should beat chance by far, got {acc}"
    );

    let config: TrainConfig =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        (config.batch, config.lr, config.train_limit, config.momentum),
        (128, 0.05, Some(640), Some(0.9))
    );
    // The kernel forms the run used are recorded, so that a resumed run computes the same.
    assert!(
        config.kernels.is_some(),
        "config.json records the kernel forms"
    );
    let model = sampa::nn::Model::mlp(784, &[256, 256], 10).unwrap();
    let params = checkpoint::load(&model, &out_dir.join("model.safetensors")).unwrap();
    assert!(params.iter().all(|v| v.is_finite()));
    let png = std::fs::read(out_dir.join("curves.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let _ = std::fs::remove_dir_all(out_dir);
}

fn config(out: &Path, seed: u64) -> TrainConfig {
    TrainConfig {
        data: "embedded".into(),
        image_size: None,
        folder_size: None,
        classes: None,
        task: None,
        tokenizer: None,
        max_len: 128,
        cased: false,
        model: "mlp".into(),
        hidden: vec![32],
        epochs: 2,
        steps: Some(12),
        batch: 64,
        lr: 0.05,
        lr_schedule: LrSchedule::Cosine,
        warmup_steps: None,
        lr_milestones: Vec::new(),
        lr_gamma: 0.2,
        momentum: Some(0.9),
        weight_decay: 5e-4,
        nesterov: true,
        optimizer: OptimizerConfig::default(),
        schedule: Schedule::Serial,
        adapter2: None,
        checkpoint_every: None,
        label_smoothing: 0.1,
        seed,
        shuffle: true,
        train_limit: Some(512),
        test_limit: None,
        val_split: None,
        label_noise: 0.0,
        dropout: None,
        zero_init_residual: false,
        sync_bn: false,
        normalize: true,
        augment: Some(sampa::run::Augment::Off),
        workers: None,
        cutout: false,
        init: None,
        reset_head: false,
        log_every: None,
        diagnose_every: None,
        adapter: None,
        out: out.to_path_buf(),
        overwrite: true,
        kernels: None,
    }
}

#[test]
fn same_seed_same_parameters_and_init_round_trips() {
    for gpu in &gpus() {
        let dir = tmp("det");
        let c = config(&dir, 7);
        let splits = train::load_data(&c).unwrap();
        let a = train::run(gpu, &c, &splits).unwrap();
        let b = train::run(gpu, &c, &splits).unwrap();
        assert_eq!(a.steps, 12);
        assert!(
            a.params == b.params,
            "{}: same seed must give bit-identical parameters",
            gpu.adapter.short()
        );
        let other = train::run(gpu, &config(&dir, 8), &splits).unwrap();
        assert!(a.params != other.params, "another seed must change the run");

        // The saved file holds exactly the final parameters, and --init starts from them.
        let model = sampa::nn::Model::mlp(784, &[32], 10).unwrap();
        let saved = checkpoint::load(&model, &dir.join("model.safetensors")).unwrap();
        assert_eq!(saved, other.params);
        let mut resumed = config(&tmp("init"), 8);
        resumed.init = Some(dir.join("model.safetensors"));
        resumed.steps = Some(1);
        resumed.lr = 1e-30;
        let r = train::run(gpu, &resumed, &splits).unwrap();
        let moved = r
            .params
            .iter()
            .zip(&saved)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            moved < 1e-6,
            "a negligible step from --init stays at the saved parameters ({moved})"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn write_idx_dir(dir: &Path, n_images: usize, n_labels: usize, truncate: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let images = |n: usize| {
        let mut v = vec![0, 0, 8, 3];
        for d in [n, 28, 28] {
            v.extend((d as u32).to_be_bytes());
        }
        v.extend(std::iter::repeat_n(7u8, n * 784));
        v
    };
    let labels = |n: usize| {
        let mut v = vec![0, 0, 8, 1];
        v.extend((n as u32).to_be_bytes());
        v.extend((0..n).map(|i| (i % 10) as u8));
        v
    };
    let mut train = images(n_images);
    train.truncate(train.len() - truncate);
    std::fs::write(dir.join("train-images-idx3-ubyte"), train).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels(n_labels)).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), images(10)).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels(10)).unwrap();
}

#[test]
fn bad_input_is_a_one_line_error_naming_the_file_or_flag() {
    let out = tmp("bad");
    let o = out.to_str().unwrap();
    assert_one_line_error(
        &sampa(&["train", "--data", "/no/such/dir", "--out", o]),
        &["/no/such/dir", "no such data directory"],
    );
    assert_one_line_error(
        &sampa(&["train", "--data", "embedded", "--batch", "0", "--out", o]),
        &["--batch must be at least 1"],
    );
    for (flag, value, want) in [
        (
            "--rho",
            "-0.1",
            "--rho must be a non-negative finite number, got -0.1",
        ),
        (
            "--rho",
            "NaN",
            "--rho must be a non-negative finite number, got NaN",
        ),
        ("--lambda", "1.5", "--lambda must be in [0, 1], got 1.5"),
        ("--lambda", "-0.2", "--lambda must be in [0, 1], got -0.2"),
        (
            "--betas",
            "1,0.999",
            "--betas must be two numbers in [0, 1), got 1,0.999",
        ),
        ("--eps", "0", "--eps must be a positive number, got 0"),
        ("--warmup-steps", "0", "--warmup-steps must be at least 1"),
        (
            "--clip-norm",
            "-1",
            "--clip-norm must be a positive number, got -1",
        ),
        (
            "--lr-schedule",
            "step",
            "--lr-schedule step needs --lr-milestones",
        ),
        (
            "--checkpoint-every",
            "0",
            "--checkpoint-every must be at least 1",
        ),
    ] {
        let args = [
            "train",
            "--data",
            "embedded",
            "--optimizer",
            "sampa",
            flag,
            value,
            "--out",
            o,
        ];
        assert_one_line_error(&sampa(&args), &[want]);
    }
    for sgd_only in [["--momentum", "0.9"], ["--nesterov", "--seed=0"]] {
        let args = [&["train", "--base", "adamw"][..], &sgd_only, &["--out", o]].concat();
        assert_one_line_error(
            &sampa(&args),
            &[
                sgd_only[0],
                "applies to --base sgd only; adamw keeps its own moments",
            ],
        );
    }
    assert_one_line_error(
        &sampa(&["train", "--optimizer", "adam", "--out", o]),
        &["invalid value 'adam' for '--optimizer <OPTIMIZER>'"],
    );
    assert_one_line_error(
        &sampa(&[
            "train",
            "--data",
            "embedded",
            "--optimizer",
            "sampa",
            "--schedule",
            "dual",
            "--adapter",
            "vulkan",
            "--adapter2",
            "0",
            "--out",
            o,
        ]),
        &["--adapter2 0 names the main adapter", "sampa devices"],
    );
    assert_one_line_error(
        &sampa(&["train", "--resume", "/no/such/run"]),
        &["--resume /no/such/run", "config.json"],
    );
    assert_one_line_error(
        &sampa(&["train", "--resume", o, "--lr", "0.1"]),
        &["--resume", "--lr cannot be given with it"],
    );

    let d = tmp("truncated");
    write_idx_dir(&d, 20, 20, 100);
    assert_one_line_error(
        &sampa(&["train", "--data", d.to_str().unwrap(), "--out", o]),
        &["train-images-idx3-ubyte", "truncated"],
    );
    let d = tmp("magic");
    write_idx_dir(&d, 20, 20, 0);
    let mut bytes = std::fs::read(d.join("t10k-images-idx3-ubyte")).unwrap();
    bytes[2] = 9;
    std::fs::write(d.join("t10k-images-idx3-ubyte"), bytes).unwrap();
    assert_one_line_error(
        &sampa(&["train", "--data", d.to_str().unwrap(), "--out", o]),
        &["t10k-images-idx3-ubyte", "wrong magic number"],
    );
    let d = tmp("count");
    write_idx_dir(&d, 20, 19, 0);
    assert_one_line_error(
        &sampa(&["train", "--data", d.to_str().unwrap(), "--out", o]),
        &["train-labels-idx1-ubyte", "19 labels", "20 images"],
    );

    let d = tmp("cifar");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("data_batch_1.bin"), vec![1u8; 3073 * 2 + 5]).unwrap();
    std::fs::write(d.join("test_batch.bin"), vec![1u8; 3073]).unwrap();
    assert_one_line_error(
        &sampa(&["train", "--data", d.to_str().unwrap(), "--out", o]),
        &["data_batch_1.bin", "3073-byte records"],
    );

    // A file that does not decode is named in a warning and left out; here it is 1 of 3,
    // more than the 1 % that stops the run.
    let d = tmp("folder");
    for split in ["train", "test"] {
        for class in ["a", "b"] {
            std::fs::create_dir_all(d.join(split).join(class)).unwrap();
            image::GrayImage::new(4, 4)
                .save(d.join(split).join(class).join("ok.png"))
                .unwrap();
        }
    }
    std::fs::write(d.join("train/a/bad.jpg"), b"garbage").unwrap();
    // The run has begun when the batch meets the file, so it has a directory of its own.
    let own = d.join("run");
    let run = sampa(&[
        "train",
        "--data",
        d.to_str().unwrap(),
        "--out",
        own.to_str().unwrap(),
    ]);
    assert_one_line_error(&run, &["train", "1 of its 3 image files do not decode"]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("warning:") && err.contains("bad.jpg: cannot be read as an image"),
        "{err}"
    );

    // --init with a missing and with a mis-shaped tensor.
    let model = sampa::nn::Model::mlp(784, &[16], 10).unwrap();
    // Beside the run's directory: files in it would make it no run's to write.
    let inits = tmp("bad-init");
    std::fs::create_dir_all(&inits).unwrap();
    let f = inits.join("small.safetensors");
    common::save_plain(&model, &model.init(0), &f);
    assert_one_line_error(
        &sampa(&[
            "train",
            "--data",
            "embedded",
            "--init",
            f.to_str().unwrap(),
            "--out",
            o,
        ]),
        &[
            "small.safetensors",
            "\"layers.0.weight\"",
            "[16, 784]",
            "[256, 784]",
        ],
    );
    let partial = sampa::nn::Model::mlp(784, &[256], 256).unwrap();
    let g = inits.join("partial.safetensors");
    common::save_plain(&partial, &partial.init(0), &g);
    assert_one_line_error(
        &sampa(&[
            "train",
            "--data",
            "embedded",
            "--init",
            g.to_str().unwrap(),
            "--out",
            o,
        ]),
        &["partial.safetensors", "layers.1"],
    );
    let _ = std::fs::remove_dir_all(out);
    let _ = std::fs::remove_dir_all(inits);
}

#[test]
fn a_huge_class_count_is_a_one_line_error_before_anything_is_allocated() {
    let out = tmp("classes");
    for n in ["1000000000", "18446744073709551615"] {
        let args = ["train", "--classes", n, "--out", out.to_str().unwrap()];
        let (o, peak_mib) = common::cli::sampa_peak(&args);
        let e = common::cli::error_line(&o);
        assert!(
            e.contains(&format!("--classes {n}: at most 1048576 classes")),
            "{e}"
        );
        eprintln!("--classes {n}: peak resident memory {peak_mib:.1} MiB");
        assert!(
            peak_mib < 100.0,
            "--classes {n}: peak memory {peak_mib:.1} MiB"
        );
        assert!(!out.exists(), "no run directory is left behind");
    }
}

#[test]
fn a_diverging_run_stops_naming_the_step_and_keeps_the_last_good_model() {
    let dir = tmp("nan");
    let d = dir.to_str().unwrap();
    let run = |out: &str, extra: &[&str]| {
        let args = [
            "train",
            "--data",
            "embedded",
            "--epochs",
            "1",
            "--train-limit",
            "256",
            "--hidden",
            "16",
            "--out",
            out,
        ];
        sampa(&[&args[..], extra].concat())
    };
    let ok = run(d, &[]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let good = std::fs::read(dir.join("model.safetensors")).unwrap();
    let diverging = |out: &str| run(out, &["--lr", "1e30"]);
    // Into the good run's directory: refused before anything is written (this once replaced
    // config.json and left the other run's model beside it).
    assert_one_line_error(&diverging(d), &["holds a run already", "--overwrite"]);
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        good,
        "the good run is untouched"
    );
    // In a directory of its own: it stops at the first step. Its loss is computed before its
    // update, so it is finite, but the update takes the parameters' norm past f32: the norm
    // check stops the run a step before the loss would. Its directory holds its own config and
    // nothing of another run's.
    let fresh = tmp("nan-fresh");
    let _ = std::fs::remove_dir_all(&fresh);
    assert_one_line_error(
        &diverging(fresh.to_str().unwrap()),
        &[
            "the parameters' squared norm became inf (the loss was still",
            "at step 1 (epoch 1)",
            "no model was written",
            "smaller --lr",
        ],
    );
    let config = std::fs::read_to_string(fresh.join("config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["lr"], 1e30, "{config}");
    assert!(!fresh.join("model.safetensors").exists());
    let _ = std::fs::remove_dir_all(fresh);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_resumed_run_ends_with_the_parameters_of_an_uninterrupted_one() {
    for gpu in &gpus() {
        // SAMPa carries g_y and the previous batch, RandSAM its generator, SAM-db the previous
        // batch; augmentation adds the data generator. 200 examples in batches of 32: seven
        // steps per epoch, the last one short.
        for kind in [
            OptimizerKind::Sampa,
            OptimizerKind::RandSam,
            OptimizerKind::SamDb,
        ] {
            let mut c = config(&tmp("full"), 3);
            c.train_limit = Some(200);
            c.batch = 32;
            c.steps = None;
            c.augment = Some(sampa::run::Augment::Crop);
            c.optimizer = OptimizerConfig {
                kind,
                ..Default::default()
            };
            let splits = train::load_data(&c).unwrap();
            let full = train::run(gpu, &c, &splits).unwrap();
            assert_eq!(full.steps, 14);
            // Stopped inside an epoch (after the step-4 checkpoint), and at an epoch's end.
            for stop in [5, 7] {
                let mut part = c.clone();
                part.out = tmp(&format!("part{stop}"));
                part.steps = Some(stop);
                part.checkpoint_every = Some(4);
                train::run(gpu, &part, &splits).unwrap();
                part.steps = None;
                let resumed = train::resume(gpu, &part, &splits).unwrap();
                let what = format!("{} {kind:?} stopped at {stop}", gpu.adapter.short());
                assert_eq!(resumed.steps, 14, "{what}");
                assert!(resumed.params == full.params, "{what}: parameters differ");
                let acc =
                    |s: &train::RunSummary| s.epochs.iter().map(|p| p.test_acc).collect::<Vec<_>>();
                assert_eq!(acc(&resumed), acc(&full), "{what}: per-epoch test accuracy");
                let _ = std::fs::remove_dir_all(&part.out);
            }
            let _ = std::fs::remove_dir_all(&c.out);
        }
    }
}

/// `sampa train ... | head -1`: the reader leaves after the first line. The run neither
/// panics nor stops: it trains on silently, writes its run directory, exits 0, and resumes.
#[test]
fn a_closed_stdout_neither_panics_nor_stops_the_run() {
    use std::io::BufRead;
    let out = tmp("closed-stdout");
    let o = out.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args([
            "train",
            "--data",
            "embedded",
            "--train-limit",
            "512",
            "--batch",
            "64",
        ])
        .args([
            "--epochs",
            "2",
            "--hidden",
            "16",
            "--checkpoint-every",
            "3",
            "--out",
            o,
        ])
        .env_remove("SAMPA_ADAPTER")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone (dropped above): every later write to stdout fails with EPIPE.
    let done = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(
        done.status.success() && !err.contains("panicked"),
        "{first}{err}"
    );
    assert!(
        out.join("model.safetensors").is_file() && out.join("checkpoint.safetensors").is_file()
    );
    let resumed = sampa(&["train", "--resume", o, "--epochs", "3"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let _ = std::fs::remove_dir_all(out);
}

/// A directory whose name is not UTF-8 (any bytes but `/` and NUL make a Unix file name):
/// train into it, evaluate its model, resume it, and start another run from its model.
#[test]
fn train_eval_resume_and_init_under_a_directory_whose_name_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let base = tmp("not-utf8");
    let dir = base.join(std::ffi::OsStr::from_bytes(b"runs-\xff\xfe"));
    std::fs::create_dir_all(&dir).unwrap();
    let (run, run2) = (dir.join("run"), dir.join("run2"));
    let model = run.join("model.safetensors");
    let ok = |args: &[&std::ffi::OsStr]| {
        let o = Command::new(env!("CARGO_BIN_EXE_sampa"))
            .args(args)
            .env_remove("SAMPA_ADAPTER")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            o.status.success() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let s = |v: &str| std::ffi::OsStr::new(v).to_os_string();
    let train = [
        s("train"),
        s("--data"),
        s("embedded"),
        s("--hidden"),
        s("8"),
        s("--steps"),
        s("2"),
    ];
    let mut first = train.to_vec();
    first.extend([s("--out"), run.clone().into_os_string()]);
    ok(&first.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
    // config.json keeps the name's bytes exactly.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let bytes: Vec<u8> = config["out"]["unix_bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(bytes, run.as_os_str().as_bytes());
    let eval = ok(&[
        s("eval").as_os_str(),
        &s("--model"),
        model.as_os_str(),
        &s("--data"),
        &s("embedded"),
    ]);
    assert!(
        eval.contains("test accuracy") || eval.contains('%'),
        "{eval}"
    );
    ok(&[
        s("train").as_os_str(),
        &s("--resume"),
        run.as_os_str(),
        &s("--steps"),
        &s("4"),
    ]);
    let mut init = train.to_vec();
    init.extend([
        s("--init"),
        model.clone().into_os_string(),
        s("--out"),
        run2.clone().into_os_string(),
    ]);
    ok(&init.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
    ok(&[
        s("train").as_os_str(),
        &s("--resume"),
        run2.as_os_str(),
        &s("--steps"),
        &s("3"),
    ]);
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn cli_resume_continues_a_run_from_its_checkpoint() {
    let (full, part) = (tmp("cli-full"), tmp("cli-part"));
    let args = |out: &Path, extra: &[&str]| {
        let mut a = vec![
            "train",
            "--data",
            "embedded",
            "--train-limit",
            "192",
            "--batch",
            "64",
        ];
        a.extend(["--epochs", "2", "--optimizer", "sampa", "--hidden", "32"]);
        a.extend(extra.iter().copied());
        a.extend(["--out", out.to_str().unwrap()]);
        sampa(
            &a.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
    };
    assert!(args(&full, &[]).status.success());
    assert!(
        args(&part, &["--steps", "4", "--checkpoint-every", "2"])
            .status
            .success()
    );
    // The run keeps its --steps 4 unless told otherwise: on to the end of its two epochs.
    let out = sampa(&["train", "--resume", part.to_str().unwrap(), "--steps", "6"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("resuming") && stdout.contains("at step 4"),
        "{stdout}"
    );
    let model = sampa::nn::Model::mlp(784, &[32], 10).unwrap();
    let a = checkpoint::load(&model, &full.join("model.safetensors")).unwrap();
    let b = checkpoint::load(&model, &part.join("model.safetensors")).unwrap();
    assert!(
        a == b,
        "resumed and uninterrupted runs end with different parameters"
    );
    let lines = |d: &Path| {
        std::fs::read_to_string(d.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(lines(&full), lines(&part), "one record per epoch in both");
    let _ = (std::fs::remove_dir_all(full), std::fs::remove_dir_all(part));
}

#[test]
fn cli_dual_schedule_survives_a_failing_worker() {
    let dir = tmp("dual");
    let d = dir.to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args([
            "train",
            "--data",
            "embedded",
            "--train-limit",
            "256",
            "--batch",
            "32",
        ])
        .args([
            "--epochs",
            "1",
            "--hidden",
            "32",
            "--optimizer",
            "sampa",
            "--schedule",
            "dual",
        ])
        .args(["--adapter", "vulkan", "--adapter2", "gl", "--out", d])
        .env("SAMPA_WORKER_FAIL_AT", "3")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("schedule dual (worker: #1 Gl"), "{stdout}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("failed at step 3"), "{}", warnings[0]);
    assert!(stdout.contains("done: 8 steps"), "no step lost: {stdout}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_fused_training_run_equals_a_serial_one_bit_for_bit() {
    for gpu in &gpus() {
        // 200 images in batches of 64: each epoch ends with a batch of 8, so the steps that
        // pair it with a full batch run serially and the others fused.
        let run = |schedule, name| {
            let mut c = config(&tmp(name), 3);
            c.train_limit = Some(200);
            c.steps = None;
            c.optimizer.kind = OptimizerKind::Sampa;
            c.schedule = schedule;
            let splits = train::load_data(&c).unwrap();
            let r = train::run(gpu, &c, &splits).unwrap();
            let _ = std::fs::remove_dir_all(&c.out);
            r
        };
        let serial = run(Schedule::Serial, "sampa-serial");
        let fused = run(Schedule::Fused, "sampa-fused");
        assert_eq!(serial.steps, 8);
        assert!(
            fused.params == serial.params,
            "{}: the fused run left serial's trajectory",
            gpu.adapter.short()
        );
    }
}
