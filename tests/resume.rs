#![cfg(not(target_arch = "wasm32"))]
//! Resuming through the CLI: from any working directory, on data that moved, with the run's
//! own settings (and nothing else), and never from a damaged checkpoint.

mod common;

use common::cli::{error_line, scratch};
use std::path::Path;
use std::process::{Command, Output};

/// `sampa train` in `cwd` with `args`.
fn sampa_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args(args)
        .current_dir(cwd)
        .env_remove("SAMPA_ADAPTER")
        .output()
        .unwrap()
}

fn ok(out: std::process::Output) -> String {
    common::cli::success(&out)
}

/// A copy of the embedded Fashion-MNIST subset's IDX files in `dir`.
fn copy_data(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/fashion-mnist-subset");
    for e in std::fs::read_dir(assets).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
}

/// A fresh run in `cwd/run` on the relative data directory `data`, stopped by --steps.
fn start(cwd: &Path, steps: &str) -> String {
    ok(sampa_in(
        cwd,
        &[
            "train",
            "--data",
            "data",
            "--train-limit",
            "128",
            "--batch",
            "32",
            "--hidden",
            "8",
            "--optimizer",
            "sampa",
            "--epochs",
            "3",
            "--steps",
            steps,
            "--out",
            "run",
        ],
    ))
}

#[test]
fn a_resume_works_from_any_directory_and_keeps_the_runs_steps() {
    let d = scratch("resume", "elsewhere");
    copy_data(&d.join("data"));
    start(&d, "3");
    let config = std::fs::read_to_string(d.join("run/config.json")).unwrap();
    let data = d.join("data");
    assert!(
        config.contains(&format!("\"data\": \"{}\"", data.display())),
        "{config}"
    );
    // From another working directory, to a larger --steps, which config.json then keeps.
    let run = d.join("run");
    let run = run.to_str().unwrap();
    let out = ok(sampa_in(
        Path::new("/"),
        &["train", "--resume", run, "--steps", "5"],
    ));
    assert!(
        out.contains("at step 3") && out.contains("done: 5 steps"),
        "{out}"
    );
    // Without --steps the run's 5 stand: nothing to do, and config.json is left as it was.
    let before = std::fs::read(d.join("run/config.json")).unwrap();
    let out = ok(sampa_in(Path::new("/"), &["train", "--resume", run]));
    assert!(out.contains("already taken its 5 steps"), "{out}");
    // Fewer steps than taken: an error that says so, and nothing rewritten.
    let line = error_line(&sampa_in(&d, &["train", "--resume", run, "--steps", "2"]));
    assert!(
        line.contains("--steps 2") && line.contains("already taken 5 steps"),
        "{line}"
    );
    assert_eq!(std::fs::read(d.join("run/config.json")).unwrap(), before);
}

#[test]
fn data_that_moved_is_given_with_data_and_other_data_is_refused() {
    let d = scratch("resume", "moved");
    copy_data(&d.join("data"));
    start(&d, "2");
    std::fs::rename(d.join("data"), d.join("moved")).unwrap();
    let line = error_line(&sampa_in(&d, &["train", "--resume", "run"]));
    assert!(
        line.contains("no such data directory") && line.contains("pass --data DIR"),
        "{line}"
    );
    // Other data under the old name: its fingerprint differs.
    copy_data(&d.join("other"));
    std::fs::write(d.join("other/train-labels-idx1-ubyte.gz"), gz_labels(&d)).unwrap();
    let line = error_line(&sampa_in(
        &d,
        &["train", "--resume", "run", "--data", "other"],
    ));
    assert!(
        line.contains("other: this is not the data the run") && line.contains("trained on"),
        "{line}"
    );
    let out = ok(sampa_in(
        &d,
        &[
            "train", "--resume", "run", "--data", "moved", "--steps", "3",
        ],
    ));
    assert!(out.contains("done: 3 steps"), "{out}");
    let config = std::fs::read_to_string(d.join("run/config.json")).unwrap();
    assert!(
        config.contains(&format!("{}\"", d.join("moved").display())),
        "{config}"
    );
}

/// The subset's training labels with the first one changed (another valid class).
fn gz_labels(d: &Path) -> Vec<u8> {
    use std::io::{Read, Write};
    let gz = std::fs::read(d.join("moved/train-labels-idx1-ubyte.gz")).unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .unwrap();
    raw[8] = (raw[8] + 1) % 10;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&raw).unwrap();
    e.finish().unwrap()
}

#[test]
fn an_edited_config_is_refused_naming_the_field() {
    let d = scratch("resume", "edited");
    copy_data(&d.join("data"));
    start(&d, "2");
    let path = d.join("run/config.json");
    let config = std::fs::read_to_string(&path).unwrap();
    let edited = config.replace("\"kind\": \"sampa\"", "\"kind\": \"sam\"");
    assert_ne!(edited, config, "{config}");
    std::fs::write(&path, edited).unwrap();
    let line = error_line(&sampa_in(&d, &["train", "--resume", "run", "--steps", "3"]));
    assert!(
        line.contains("config.json")
            && line.contains("optimizer")
            && line.contains("Restore config.json"),
        "{line}"
    );
}

#[test]
fn a_flipped_byte_in_a_checkpoint_is_an_error() {
    let d = scratch("resume", "flipped");
    copy_data(&d.join("data"));
    start(&d, "2");
    let path = d.join("run/checkpoint.safetensors");
    let good = std::fs::read(&path).unwrap();
    // One byte in the tensor data (past the header), and one in the header's metadata.
    let header = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize + 8;
    let steps_at = find(&good, b"\"steps\":\"2\"").expect("the steps in the metadata") + 9;
    for (at, what) in [(header + 1000, "tensor data"), (steps_at, "metadata")] {
        let mut bad = good.clone();
        bad[at] ^= if what == "metadata" { 0x03 } else { 0x01 };
        std::fs::write(&path, &bad).unwrap();
        let line = error_line(&sampa_in(&d, &["train", "--resume", "run", "--steps", "3"]));
        assert!(
            line.contains("checkpoint.safetensors: is corrupt") && line.contains("checksum"),
            "{what}: {line}"
        );
    }
    std::fs::write(&path, &good).unwrap();
    ok(sampa_in(&d, &["train", "--resume", "run", "--steps", "3"]));
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A checkpoint of another model, copied into a run, is refused by name, not read.
#[test]
fn a_checkpoint_of_another_model_is_refused_by_name() {
    let d = scratch("resume", "other-model");
    for (name, hidden) in [("a", "16"), ("b", "32")] {
        ok(sampa_in(
            &d,
            &[
                "train", "--data", "embedded", "--steps", "1", "--hidden", hidden, "--out", name,
            ],
        ));
    }
    std::fs::copy(
        d.join("a/checkpoint.safetensors"),
        d.join("b/checkpoint.safetensors"),
    )
    .unwrap();
    let line = error_line(&sampa_in(&d, &["train", "--resume", "b", "--steps", "2"]));
    assert!(
        line.contains("checkpoint.safetensors")
            && line
                .contains("is the checkpoint of mlp 784-16-10, but this run builds mlp 784-32-10")
            && line.contains("; resume the run that wrote it, or start this one again"),
        "{line}"
    );
}
