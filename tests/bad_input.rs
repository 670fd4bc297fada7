#![cfg(not(target_arch = "wasm32"))]
//! Inputs that once panicked or passed silently: each now gives a one-line error that names
//! the file or flag and what to do.

mod common;

use common::cli::{error_line, sampa, scratch};
use std::io::Write;
use std::path::Path;

/// IDX files: `n` images of `h`×`w` (the header as given) with labels `0..n`.
fn write_idx(d: &Path, (n, h, w): (u32, u32, u32), test_n: u32) {
    let images = |n: u32, h: u32, w: u32| {
        let mut v = vec![0, 0, 8, 3];
        for x in [n, h, w] {
            v.extend(x.to_be_bytes());
        }
        v.extend(std::iter::repeat_n(7u8, (n * h * w) as usize));
        v
    };
    let labels = |n: u32| {
        let mut v = vec![0, 0, 8, 1];
        v.extend(n.to_be_bytes());
        v.extend((0..n).map(|i| (i % 10) as u8));
        v
    };
    let put = |name: &str, bytes: Vec<u8>| {
        std::fs::File::create(d.join(name))
            .unwrap()
            .write_all(&bytes)
            .unwrap();
    };
    put("train-images-idx3-ubyte", images(n, h, w));
    put("train-labels-idx1-ubyte", labels(n));
    put("t10k-images-idx3-ubyte", images(test_n, 4, 4));
    put("t10k-labels-idx1-ubyte", labels(test_n));
}

/// The error line of `sampa train` on the data in `d` (its run directory beside it).
fn train_error(d: &Path) -> String {
    let out = d.with_extension("run");
    let _ = std::fs::remove_dir_all(&out);
    error_line(&sampa(&[
        "train",
        "--data",
        d.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]))
}

#[test]
fn an_idx_header_with_a_zero_dimension_is_an_error_not_a_division_by_zero() {
    let d = scratch("bad-input", "idx-zero");
    write_idx(&d, (3, 0, 4), 2);
    let line = train_error(&d);
    assert!(
        line.contains("train-images-idx3-ubyte") && line.contains("0×4 pixels"),
        "{line}"
    );
}

#[test]
fn an_empty_training_set_is_an_error() {
    let d = scratch("bad-input", "idx-empty");
    write_idx(&d, (0, 4, 4), 2);
    let line = train_error(&d);
    assert!(line.contains("holds no training examples"), "{line}");
}

#[test]
fn the_toy_with_zero_steps_is_an_error() {
    let line = error_line(&sampa(&["toy", "--steps", "0"]));
    assert!(line.contains("--steps must be at least 1, got 0"), "{line}");
}

#[test]
fn non_finite_init_weights_are_refused_by_name() {
    let model = sampa::nn::Model::mlp(784, &[256, 256], 10).unwrap();
    let mut x = model.init(0);
    x[model.param("layers.1.weight").unwrap().offset + 5] = f32::NAN;
    let d = scratch("bad-input", "nan-init");
    let file = d.join("nan.safetensors");
    common::save_plain(&model, &x, &file);
    let out = d.join("run");
    let line = error_line(&sampa(&[
        "train",
        "--data",
        "embedded",
        "--steps",
        "1",
        "--init",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        line.contains("nan.safetensors")
            && line.contains("\"layers.1.weight\" holds NaN at element 5"),
        "{line}"
    );
}

#[test]
fn parameters_that_overflow_behind_a_dead_relu_stop_the_run_though_the_loss_is_finite() {
    // Hidden unit 0's weights at -1e20: its pre-activation is never positive, so ReLU hides
    // them from the loss, which stays finite, while ‖x‖² (1e40 and more) overflows f32.
    let model = sampa::nn::Model::mlp(784, &[16], 10).unwrap();
    let mut x = model.init(0);
    let w = model.param("layers.0.weight").unwrap().offset;
    x[w..w + 784].fill(-1e20);
    let d = scratch("bad-input", "overflow-init");
    let file = d.join("huge.safetensors");
    common::save_plain(&model, &x, &file);
    let out = d.join("run");
    let args = [
        "--hidden",
        "16",
        "--steps",
        "2",
        "--init",
        file.to_str().unwrap(),
    ];
    let line = error_line(&sampa(
        &[
            &[
                "train",
                "--data",
                "embedded",
                "--out",
                out.to_str().unwrap(),
            ][..],
            &args,
        ]
        .concat(),
    ));
    assert!(
        line.contains("the parameters' squared norm became inf (the loss was still ")
            && line.contains("at step 1")
            && line.contains("--lr"),
        "{line}"
    );
}

#[test]
fn a_schedule_without_effect_is_warned_about_and_negative_rates_reach_validation() {
    let out = scratch("bad-input", "sgd-dual").join("run");
    let run = sampa(&[
        "train",
        "--data",
        "embedded",
        "--steps",
        "1",
        "--optimizer",
        "sgd",
        "--schedule",
        "dual",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(
        err.contains("warning: --schedule dual has no effect with --optimizer sgd"),
        "{err}"
    );

    let line = error_line(&sampa(&[
        "train",
        "--lr",
        "-1",
        "--out",
        scratch("bad-input", "neg-lr").join("run").to_str().unwrap(),
    ]));
    assert!(
        line.contains("--lr") && !line.contains("unexpected argument"),
        "{line}"
    );
}

#[test]
fn a_corrupt_label_byte_is_an_error_naming_the_file_and_record() {
    // Once trained a 201-class model and exited 0.
    let d = scratch("bad-input", "idx-label-200");
    write_idx(&d, (12, 4, 4), 2);
    let path = d.join("train-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8 + 5] = 200;
    std::fs::write(&path, bytes).unwrap();
    let line = train_error(&d);
    assert!(
        line.contains("train-labels-idx1-ubyte")
            && line.contains("record 5")
            && line.contains("label 200")
            && line.contains("--classes N"),
        "{line}"
    );
}

/// `sampa train` for one step on the embedded data, run in `cwd`, with `args` added.
fn one_step(cwd: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args([
            "train", "--data", "embedded", "--steps", "1", "--hidden", "8",
        ])
        .args(args)
        .current_dir(cwd)
        .env_remove("SAMPA_ADAPTER")
        .output()
        .unwrap()
}

#[test]
fn an_existing_run_is_never_replaced_unasked() {
    let d = scratch("bad-input", "existing-run");
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    assert!(one_step(&d, &["--out", run_s]).status.success());
    let metrics = std::fs::read(run.join("metrics.jsonl")).unwrap();
    // Again into the same directory: refused, and the run's files are as they were.
    let line = error_line(&one_step(&d, &["--out", run_s, "--seed", "5"]));
    assert!(
        line.contains("holds a run already")
            && line.contains("--resume")
            && line.contains("--overwrite"),
        "{line}"
    );
    assert_eq!(std::fs::read(run.join("metrics.jsonl")).unwrap(), metrics);
    // Asked to: replaced.
    let out = one_step(&d, &["--out", run_s, "--seed", "5", "--overwrite"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(config.contains("\"seed\": 5"), "{config}");
    // A directory of other files is never a run's, --overwrite or not.
    let other = d.join("photos");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("a.jpg"), "not a run").unwrap();
    let line = error_line(&one_step(
        &d,
        &["--out", other.to_str().unwrap(), "--overwrite"],
    ));
    assert!(line.contains("no config.json"), "{line}");
    assert_eq!(std::fs::read(other.join("a.jpg")).unwrap(), b"not a run");
}

#[test]
fn default_run_names_never_collide_and_failed_starts_leave_nothing() {
    let d = scratch("bad-input", "default-names");
    // Two runs started together get the same timestamp, and two directories.
    let exe = env!("CARGO_BIN_EXE_sampa");
    let start = || {
        std::process::Command::new(exe)
            .args([
                "train", "--data", "embedded", "--steps", "1", "--hidden", "8",
            ])
            .current_dir(&d)
            .env_remove("SAMPA_ADAPTER")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (start(), start());
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let runs: Vec<_> = std::fs::read_dir(d.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for r in &runs {
        assert!(
            r.join("config.json").is_file(),
            "{} has no run",
            r.display()
        );
    }
    // A start-up that fails (no such data) leaves no directory, named or default.
    let named = d.join("never");
    let failed_start = |extra: &[&str]| {
        std::process::Command::new(exe)
            .args(["train", "--data", "/nonexistent/data"])
            .args(extra)
            .current_dir(&d)
            .output()
            .unwrap()
    };
    error_line(&failed_start(&["--out", named.to_str().unwrap()]));
    assert!(!named.exists());
    error_line(&failed_start(&[]));
    assert_eq!(std::fs::read_dir(d.join("runs")).unwrap().count(), 2);
}

#[test]
fn an_absurd_width_is_an_error_not_an_aborted_allocation() {
    // Once aborted the process (SIGABRT) allocating 3 PB for the initial parameters.
    let d = scratch("bad-input", "huge-width");
    let run = d.join("run");
    let line = error_line(&sampa(&[
        "train",
        "--data",
        "embedded",
        "--hidden",
        "1000000000000",
        "--out",
        run.to_str().unwrap(),
    ]));
    assert!(
        line.contains("more than 4294967295 parameters") && line.contains("--hidden"),
        "{line}"
    );
}

/// An image folder of `n` 8×8 images per class in `train/` and `test/`, with the clutter a
/// Mac's Finder and Windows' Explorer leave in folders.
fn write_folder(d: &Path, n: usize) {
    for split in ["train", "test"] {
        for (class, colour) in [("cat", [200, 10, 10]), ("dog", [10, 10, 200])] {
            let dir = d.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                image::RgbImage::from_pixel(8, 8, image::Rgb(colour))
                    .save(dir.join(format!("{i}.png")))
                    .unwrap();
            }
            std::fs::write(dir.join(".DS_Store"), b"\0\0\0\x01Bud1").unwrap();
            std::fs::write(dir.join("Thumbs.db"), b"not an image").unwrap();
        }
        std::fs::write(d.join(split).join("._cat"), b"AppleDouble").unwrap();
        std::fs::create_dir_all(d.join(split).join(".git")).unwrap();
    }
}

#[test]
fn hidden_files_in_an_image_folder_are_skipped() {
    let d = scratch("bad-input", "hidden-files");
    write_folder(&d, 2);
    let run = d.join("run");
    let out = sampa(&[
        "train",
        "--data",
        d.to_str().unwrap(),
        "--steps",
        "1",
        "--hidden",
        "8",
        "--out",
        run.to_str().unwrap(),
    ]);
    let stdout = common::cli::success(&out);
    // Two classes (no ".git" class), two images each: the clutter was not taken for data.
    assert!(
        stdout.contains("(2 classes: cat, dog; 4 train, 4 test images at 32×32)"),
        "{stdout}"
    );
}

#[test]
fn a_huge_image_size_is_an_error_not_an_aborted_allocation() {
    // Once aborted the process (SIGABRT) allocating the parameters of a 12.6-million-input MLP.
    let d = scratch("bad-input", "huge-images");
    write_folder(&d, 1);
    let train = |size: &str| {
        let run = d.join(format!("run-{size}"));
        let args = ["--image-size", size, "--out", run.to_str().unwrap()];
        error_line(&sampa(
            &[&["train", "--data", d.to_str().unwrap()][..], &args].concat(),
        ))
    };
    // Fits the host as a batch of images, not as a model (51 GB of host state: on a machine with that
    // free, the adapter's buffer limit refuses it instead). Either check says what to shrink.
    let line = train("2048");
    assert!(
        line.contains("mlp 12582912-256-256-2")
            && (line.contains("--image-size") || line.contains("larger limits")),
        "{line}"
    );
    // Past any image a folder may hold: refused before anything is sized by it.
    let line = train("1000000");
    assert!(
        line.contains("--image-size 1000000") && line.contains("from 1 to 16384"),
        "{line}"
    );
}

#[cfg(not(feature = "mpi"))]
#[test]
fn schedule_mpi_in_a_build_without_mpi_says_how_to_get_one() {
    let out = sampa(&["train", "--schedule", "mpi", "--steps", "1"]);
    let line = error_line(&out);
    assert!(
        line.contains("built without MPI") && line.contains("--features mpi"),
        "{line}"
    );
}

/// `SAMPA_MATMUL` naming a variant the adapter cannot run (the subgroup kernel on wgpu's GL
/// backend, which has no subgroups) stops before training, naming the adapter and what to
/// choose instead; an unknown name lists the known ones.
#[test]
fn a_matmul_variant_the_adapter_lacks_is_refused_by_name() {
    let out_dir = scratch("bad-input", "matmul-variant");
    let out = out_dir.join("run");
    let run = |variant: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sampa"))
            .args([
                "train",
                "--data",
                "embedded",
                "--adapter",
                "gl",
                "--steps",
                "1",
            ])
            .arg("--out")
            .arg(&out)
            .env("SAMPA_MATMUL", variant)
            .env("SAMPA_CACHE_DIR", &out_dir)
            .output()
            .unwrap()
    };
    let line = error_line(&run("subgroup"));
    assert!(
        line.contains("SAMPA_MATMUL=subgroup")
            && line.contains("Gl")
            && line.contains("no `subgroups` feature"),
        "{line}"
    );
    assert!(!out.exists(), "a refused run left {}", out.display());
    let line = error_line(&run("warp"));
    assert!(
        line.contains("SAMPA_MATMUL") && line.contains("`subgroup`"),
        "{line}"
    );
}
