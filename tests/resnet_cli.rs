#![cfg(not(target_arch = "wasm32"))]
//! `sampa train --model resnetN` (CIFAR's and torchvision's), `vggN-bn` and `densenet-cifar`
//! end to end: the run, its
//! model file under PyTorch's names with the running statistics (`num_batches_tracked` as
//! int64), `sampa eval` on that file, and the model flags' bad input.

mod common;

use common::cli::{error_line, sampa, scratch, success, usage_error};

fn last_test_accuracy(stdout: &str) -> String {
    let line = stdout
        .lines()
        .rfind(|l| l.starts_with("epoch"))
        .expect("an epoch line");
    let at = line.find("test acc").unwrap() + "test acc".len();
    line[at..].split_whitespace().next().unwrap().to_string()
}

#[test]
fn a_resnet_trains_writes_its_running_statistics_and_evaluates_the_same() {
    let d = scratch("resnet-cli", "run");
    let out = d.join("run");
    let run = sampa(&[
        "train",
        "--model",
        "resnet8",
        "--data",
        "embedded",
        "--train-limit",
        "96",
        "--batch",
        "32",
        "--epochs",
        "1",
        "--optimizer",
        "sam",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = success(&run);
    assert!(
        stdout.contains("resnet8 1×28×28→10 (75002 parameters)"),
        "{stdout}"
    );
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let count = st.tensor("layer2.0.bn2.num_batches_tracked").unwrap();
    assert_eq!(count.dtype(), safetensors::Dtype::I64);
    assert!(count.shape().is_empty());
    // SAM updates the running statistics from its pass at x only: one count per step.
    assert_eq!(count.data(), 3i64.to_le_bytes());
    let var = st.tensor("bn1.running_var").unwrap();
    assert_eq!(
        (var.dtype(), var.shape()),
        (safetensors::Dtype::F32, &[16][..])
    );
    let eval = success(&sampa(&[
        "eval",
        "--model",
        out.join("model.safetensors").to_str().unwrap(),
        "--data",
        "embedded",
    ]));
    let acc = last_test_accuracy(&stdout);
    assert!(
        eval.contains(&format!("accuracy {acc}")),
        "train {acc}, eval: {eval}"
    );
    let line = error_line(&sampa(&[
        "train",
        "--model",
        "resnet14",
        "--data",
        "embedded",
        "--init",
        out.join("model.safetensors").to_str().unwrap(),
        "--out",
        d.join("other").to_str().unwrap(),
    ]));
    assert!(line.contains("holds the parameters of resnet8"), "{line}");
}

/// A CIFAR-10 directory of `train` and `test` records (label, then 3×32×32 random bytes).
fn cifar_dir(d: &std::path::Path, (train, test): (usize, usize)) {
    let mut rng = sampa::rng::Pcg::new(3, 0);
    let records = |n: usize, rng: &mut sampa::rng::Pcg| {
        let mut bytes = Vec::new();
        for i in 0..n {
            bytes.push((i % 10) as u8);
            bytes.extend((0..3072).map(|_| rng.below(256) as u8));
        }
        bytes
    };
    std::fs::create_dir_all(d).unwrap();
    std::fs::write(d.join("data_batch_1.bin"), records(train, &mut rng)).unwrap();
    std::fs::write(d.join("test_batch.bin"), records(test, &mut rng)).unwrap();
}

/// torchvision's ResNet-18 from `--zero-init-residual`: its file has torchvision's
/// `state_dict` (the fixture torchvision wrote) and `sampa eval` gives the run's accuracy; the
/// flag refuses models without torchvision's blocks, and `--init`, whose weights replace it.
#[test]
fn a_torchvision_resnet18_trains_on_cifar_writes_torchvisions_names_and_evaluates_the_same() {
    let d = scratch("resnet-cli", "resnet18");
    cifar_dir(&d.join("cifar"), (16, 8));
    let out = d.join("run");
    let data = d.join("cifar");
    let stdout = success(&sampa(&[
        "train",
        "--model",
        "resnet18",
        "--zero-init-residual",
        "--data",
        data.to_str().unwrap(),
        "--batch",
        "8",
        "--epochs",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        stdout.contains("resnet18 3×32×32→10 (11181642 parameters)"),
        "{stdout}"
    );
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    let (_, want) = common::state_dict::fixture("resnet18");
    let want: Vec<String> = want.into_iter().map(|(n, ..)| n).collect();
    assert_eq!(names, want);
    let eval = success(&sampa(&[
        "eval",
        "--model",
        out.join("model.safetensors").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]));
    let acc = last_test_accuracy(&stdout);
    assert!(
        eval.contains(&format!("accuracy {acc}")),
        "train {acc}, eval: {eval}"
    );
    let (model_file, bad) = (out.join("model.safetensors"), d.join("bad"));
    for (model, init, want) in [
        ("resnet20", None, "only with torchvision's ResNets"),
        ("resnet18", Some(&model_file), "left out with --init"),
    ] {
        let mut args = vec!["train", "--model", model, "--zero-init-residual"];
        args.extend(["--data", data.to_str().unwrap()]);
        if let Some(f) = init {
            args.extend(["--init", f.to_str().unwrap()]);
        }
        args.extend(["--out", bad.to_str().unwrap()]);
        let line = error_line(&sampa(&args));
        assert!(
            line.contains("--zero-init-residual") && line.contains(want),
            "{line}"
        );
    }
}

/// One epoch of VGG-11 with BatchNorm on the data `data` names, in batches of 8, into `out`.
fn train_vgg11(data: &[&str], out: &std::path::Path) -> std::process::Output {
    let run = [
        "train", "--model", "vgg11-bn", "--batch", "8", "--epochs", "1", "--lr", "0.01",
    ];
    sampa(&[&run[..], data, &["--out", out.to_str().unwrap()]].concat())
}

#[test]
fn a_vgg_trains_on_cifar_writes_kuangliu_names_and_evaluates_the_same() {
    let d = scratch("resnet-cli", "vgg");
    let (data, out) = (d.join("cifar"), d.join("run"));
    cifar_dir(&data, (16, 8));
    let data = data.to_str().unwrap();
    let stdout = success(&train_vgg11(&["--data", data], &out));
    assert!(
        stdout.contains("vgg11-bn 3×32×32→10 (9231114 parameters)"),
        "{stdout}"
    );
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    // SGD's one pass per step folds its statistics into every BatchNorm: two steps.
    for bn in ["features.1", "features.26"] {
        let count = st.tensor(&format!("{bn}.num_batches_tracked")).unwrap();
        assert_eq!(count.data(), 2i64.to_le_bytes(), "{bn}");
    }
    assert_eq!(st.tensor("classifier.weight").unwrap().shape(), &[10, 512]);
    let epoch = stdout.lines().rfind(|l| l.starts_with("epoch")).unwrap();
    let at = epoch.find("test loss").unwrap() + "test loss ".len();
    let test_loss = &epoch[at..at + 6];
    let eval = success(&sampa(&[
        "eval",
        "--model",
        out.join("model.safetensors").to_str().unwrap(),
        "--data",
        data,
    ]));
    assert!(
        eval.contains(&format!("loss {test_loss}")),
        "train {epoch}, eval: {eval}"
    );
}

/// The dense blocks' BatchNorms read windows of their concatenation in evaluation too: the
/// run's last test loss (running statistics) is `sampa eval`'s on the file it wrote.
#[test]
fn a_densenet_trains_on_cifar_writes_kuangliu_names_and_evaluates_the_same() {
    let d = scratch("resnet-cli", "densenet");
    let (data, out) = (d.join("cifar"), d.join("run"));
    cifar_dir(&data, (16, 8));
    let data = data.to_str().unwrap();
    let run = [
        "train",
        "--model",
        "densenet-cifar",
        "--batch",
        "8",
        "--epochs",
        "1",
        "--data",
        data,
        "--out",
    ];
    let stdout = success(&sampa(&[&run[..], &[out.to_str().unwrap()]].concat()));
    assert!(
        stdout.contains("densenet-cifar 3×32×32→10 (1000618 parameters)"),
        "{stdout}"
    );
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for bn in ["dense1.0.bn1", "dense4.15.bn2", "trans3.bn", "bn"] {
        let count = st.tensor(&format!("{bn}.num_batches_tracked")).unwrap();
        assert_eq!(count.data(), 2i64.to_le_bytes(), "{bn}");
    }
    let epoch = stdout.lines().rfind(|l| l.starts_with("epoch")).unwrap();
    let at = epoch.find("test loss").unwrap() + "test loss ".len();
    let test_loss = &epoch[at..at + 6];
    let model = out.join("model.safetensors");
    let eval = success(&sampa(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data,
    ]));
    assert!(
        eval.contains(&format!("loss {test_loss}")),
        "train {epoch}, eval: {eval}"
    );
    // Ten classes: top-5 beside top-1, the same in the epoch line, metrics.jsonl and eval.
    let at = epoch.find("top-5 ").expect("a top-5 accuracy") + "top-5 ".len();
    let top5 = epoch[at..].split_whitespace().next().unwrap();
    assert!(eval.contains(&format!("top-5 {top5}")), "{epoch} / {eval}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let last = metrics.lines().rfind(|l| l.contains(r#""kind":"epoch""#));
    let last: serde_json::Value = serde_json::from_str(last.unwrap()).unwrap();
    let recorded = last["test_top5_accuracy"].as_f64().unwrap();
    assert_eq!(format!("{:.2}%", 100.0 * recorded), top5);
}

#[test]
fn image_size_resizes_idx_images_for_a_model_that_needs_32_by_32() {
    let d = scratch("resnet-cli", "vgg-resized");
    let out = d.join("run");
    let data = ["--data", "embedded", "--image-size", "32"];
    let limits = ["--train-limit", "16", "--test-limit", "16"];
    let stdout = success(&train_vgg11(&[&data[..], &limits].concat(), &out));
    assert!(
        stdout.contains("resized to 32×32") && stdout.contains("vgg11-bn 1×32×32→10"),
        "{stdout}"
    );
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(config.contains("\"resize_images\": 32"), "{config}");
}

#[test]
fn resnet_flags_bad_input_is_one_line_naming_the_flag() {
    let line = usage_error(&sampa(&[
        "train", "--model", "resnet21", "--data", "embedded",
    ]));
    assert!(
        line.contains("6n+2") && line.contains("20, 26, 32"),
        "{line}"
    );
    for bad in ["wrn-16-0", "wrn-15-4"] {
        let line = usage_error(&sampa(&["train", "--model", bad, "--data", "embedded"]));
        assert!(
            line.contains("D - 4 divisible by 6") && line.contains(bad),
            "{line}"
        );
    }
    // VGG: its depths, and its 32×32 images (the embedded data is 28×28).
    let line = usage_error(&sampa(&[
        "train", "--model", "vgg12-bn", "--data", "embedded",
    ]));
    assert!(line.contains("11, 13, 16 and 19"), "{line}");
    let line = usage_error(&sampa(&[
        "train",
        "--model",
        "densenet169",
        "--data",
        "embedded",
    ]));
    assert!(
        line.contains("densenet121") && line.contains("densenet-cifar"),
        "{line}"
    );
    let line = usage_error(&sampa(&["train", "--model", "lenet", "--data", "embedded"]));
    assert!(
        line.contains("\"lenet\"") && line.contains("densenet121"),
        "{line}"
    );
    let line = error_line(&sampa(&[
        "train", "--model", "vgg11-bn", "--data", "embedded",
    ]));
    assert!(
        line.contains("--model vgg11-bn") && line.contains("32×32") && line.contains("1×28×28"),
        "{line}"
    );
    let line = error_line(&sampa(&[
        "train",
        "--optimizer",
        "sam",
        "--bn-stats",
        "y",
        "--data",
        "embedded",
    ]));
    assert!(
        line.contains("--bn-stats y") && line.contains("its passes are x, x~"),
        "{line}"
    );
    let line = usage_error(&sampa(&["train", "--bn-stats", "z", "--data", "embedded"]));
    assert!(
        line.contains("--bn-stats") && line.contains("x, x~ or y"),
        "{line}"
    );
    for rate in ["1", "-0.1"] {
        let line = error_line(&sampa(&[
            "train",
            "--label-noise",
            rate,
            "--data",
            "embedded",
        ]));
        assert!(line.contains("--label-noise must be in [0, 1)"), "{line}");
    }
    let drop = error_line(&sampa(&["train", "--dropout", "0.3", "--data", "embedded"]));
    assert!(
        drop.contains("--dropout") && drop.contains("Wide ResNet (wrn-D-K)"),
        "{drop}"
    );
    let drop = error_line(&sampa(&[
        "train",
        "--model",
        "wrn-10-1",
        "--dropout",
        "1",
        "--data",
        "embedded",
    ]));
    assert!(drop.contains("--dropout must be in [0, 1)"), "{drop}");
    assert!(
        line.contains("--bn-stats") && line.contains("x, x~ or y"),
        "{line}"
    );
}

/// `--val-split`: each epoch reports the held-out accuracy, `best.safetensors` holds the best
/// epoch's model (sampa eval gives that epoch's test accuracy), and the run reports the test
/// accuracy there beside the last epoch's.
#[test]
fn a_validation_split_keeps_the_best_epochs_model() {
    let d = scratch("resnet-cli", "val");
    let out = d.join("run");
    let stdout = success(&sampa(&[
        "train",
        "--data",
        "embedded",
        "--hidden",
        "32",
        "--train-limit",
        "600",
        "--val-split",
        "200",
        "--epochs",
        "3",
        "--lr",
        "0.2",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(stdout.matches("validation loss").count(), 3, "{stdout}");
    let lines = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let epochs: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "epoch")
        .collect();
    let best = epochs
        .iter()
        .fold(None::<&serde_json::Value>, |b, r| match b {
            Some(b) if b["val_accuracy"].as_f64() >= r["val_accuracy"].as_f64() => Some(b),
            _ => Some(r),
        })
        .unwrap();
    let test = 100.0 * best["test_accuracy"].as_f64().unwrap();
    let summary = format!("at epoch {}: test accuracy {test:.2}% there", best["epoch"]);
    assert!(stdout.contains(&summary), "{summary} in {stdout}");
    let eval = success(&sampa(&[
        "eval",
        "--model",
        out.join("best.safetensors").to_str().unwrap(),
        "--data",
        "embedded",
    ]));
    assert!(
        eval.contains(&format!("accuracy {test:.2}%")),
        "{test} vs {eval}"
    );
    let line = error_line(&sampa(&[
        "train",
        "--data",
        "embedded",
        "--train-limit",
        "600",
        "--val-split",
        "600",
    ]));
    assert!(
        line.contains("--val-split must be smaller than the 600"),
        "{line}"
    );
}

/// `--dropout` on a Wide ResNet: recorded in config.json, and two runs with one seed write the
/// same model (the masks follow from the seed, the step and the pass), another seed another.
#[test]
fn wide_resnet_dropout_runs_repeat_by_seed() {
    let d = scratch("resnet-cli", "dropout");
    let run = |name: &str, seed: &str| {
        let out = d.join(name);
        let stdout = success(&sampa(&[
            "train",
            "--model",
            "wrn-10-1",
            "--dropout",
            "0.3",
            "--data",
            "embedded",
            "--train-limit",
            "64",
            "--test-limit",
            "64",
            "--batch",
            "32",
            "--epochs",
            "1",
            "--optimizer",
            "sampa",
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
        ]));
        (out, stdout)
    };
    let ((a, printed), (b, _), (c, _)) = (run("a", "5"), run("b", "5"), run("c", "6"));
    assert!(
        printed.contains("(175034 parameters, dropout 0.3)"),
        "{printed}"
    );
    let model = |dir: &std::path::Path| std::fs::read(dir.join("model.safetensors")).unwrap();
    assert_eq!(model(&a), model(&b));
    assert_ne!(model(&a), model(&c));
    let config = std::fs::read_to_string(a.join("config.json")).unwrap();
    assert!(config.contains("\"dropout\": 0.3"), "{config}");
}
