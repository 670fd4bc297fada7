#![cfg(not(target_arch = "wasm32"))]
//! Crash safety: a run killed with SIGKILL at random points, and resumed after each kill, ends
//! with the parameters of an uninterrupted run, bit for bit.

mod common;

use common::cli::{checkpoint_step, scratch};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The run's flags: 1024 examples in batches of 16 for two epochs (128 steps), checkpoints
/// every 3 steps.
fn train_args<'a>(optimizer: &'a [&'a str], out: &'a str) -> Vec<&'a str> {
    let mut a = vec![
        "train",
        "--data",
        "embedded",
        "--train-limit",
        "1024",
        "--batch",
        "16",
        "--epochs",
        "2",
        "--hidden",
        "32",
        "--checkpoint-every",
        "3",
        "--out",
        out,
    ];
    a.extend(optimizer);
    a
}

fn sampa(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sampa"));
    c.args(args)
        .env_remove("SAMPA_ADAPTER")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn finish(mut c: Command) {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Start `c`, wait until the checkpoint in `run` has reached step `target`, and kill the
/// process with SIGKILL at once. Returns the checkpoint's step after the kill, or `None` if
/// the process ended by itself first.
fn kill_at(mut c: Command, run: &Path, target: usize) -> Option<usize> {
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while checkpoint_step(run).is_none_or(|s| s < target) {
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            let _ = child.kill();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run was killed");
    checkpoint_step(run)
}

fn killed_and_resumed_equals_uninterrupted(what: &str, optimizer: &[&str]) {
    let d = scratch("crash", what);
    let (full, part) = (d.join("full"), d.join("part"));
    let (full_s, part_s) = (full.to_str().unwrap(), part.to_str().unwrap());
    finish(sampa(&train_args(optimizer, full_s)));
    // Three kill steps from a small LCG, increasing, within the run's 128 steps: the kills
    // land while it trains, between checkpoints, and sometimes while one is written.
    let mut state = 0x2545_f491_u32;
    let mut targets: Vec<usize> = (0..3)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            3 + (state >> 16) as usize % 120
        })
        .collect();
    targets.sort();
    let mut kills = Vec::new();
    for (k, &target) in targets.iter().enumerate() {
        let c = if k == 0 {
            sampa(&train_args(optimizer, part_s))
        } else {
            sampa(&["train", "--resume", part_s])
        };
        let at = kill_at(c, &part, target);
        kills.push(at.unwrap_or_else(|| panic!("{what}: the run ended before step {target}")));
    }
    finish(sampa(&["train", "--resume", part_s]));
    let model = |r: &Path| std::fs::read(r.join("model.safetensors")).unwrap();
    assert!(
        model(&full) == model(&part),
        "{what}: killed with checkpoints at steps {kills:?} and resumed, the parameters \
         differ from the uninterrupted run's"
    );
    assert_eq!(checkpoint_step(&part), Some(128), "{what}");
    // No temporary file of a killed write is left behind.
    let names: Vec<String> = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    eprintln!("{what}: killed with checkpoints at steps {kills:?}; resumed to equal parameters");
}

#[test]
fn sgd_killed_and_resumed_ends_bit_identical() {
    killed_and_resumed_equals_uninterrupted("sgd", &["--optimizer", "sgd"]);
}

#[test]
fn sam_killed_and_resumed_ends_bit_identical() {
    killed_and_resumed_equals_uninterrupted("sam", &["--optimizer", "sam"]);
}

#[test]
fn adamw_sampa_with_warm_up_decay_and_clipping_killed_and_resumed_ends_bit_identical() {
    // Adam's moments and step count travel in the checkpoint, and the per-step rate picks up
    // where the run stopped.
    killed_and_resumed_equals_uninterrupted(
        "adamw-sampa",
        &[
            "--base",
            "adamw",
            "--optimizer",
            "sampa",
            "--lr",
            "1e-3",
            "--wd",
            "0.05",
            "--warmup-steps",
            "20",
            "--lr-schedule",
            "linear",
            "--clip-norm",
            "1",
        ],
    );
}

#[test]
fn sampa_dual_killed_and_resumed_ends_bit_identical() {
    killed_and_resumed_equals_uninterrupted(
        "sampa-dual",
        &[
            "--optimizer",
            "sampa",
            "--schedule",
            "dual",
            "--adapter",
            "vulkan",
            "--adapter2",
            "gl",
        ],
    );
}

#[test]
fn a_lost_device_names_the_last_checkpoint_and_the_resume_command() {
    let d = scratch("crash", "device-loss");
    let (full, part) = (d.join("full"), d.join("part"));
    let (full_s, part_s) = (full.to_str().unwrap(), part.to_str().unwrap());
    let sgd = ["--optimizer", "sgd"];
    finish(sampa(&train_args(&sgd, full_s)));
    // The device destroyed after step 70: a real loss, which the next step meets.
    let out = sampa(&train_args(&sgd, part_s))
        .env("SAMPA_TEST_LOSE_DEVICE_AFTER", "70")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let want = format!(
        "stopped working (GPU error while reading a buffer back: Error occurred when trying \
         to async map a buffer). The last checkpoint, {part_s}/checkpoint.safetensors (step \
         69), is intact: continue with `sampa train --resume {part_s}`"
    );
    assert!(err.contains(&want), "{err}");
    // The command it names continues the run to the uninterrupted run's parameters.
    finish(sampa(&["train", "--resume", part_s]));
    let model = |r: &Path| std::fs::read(r.join("model.safetensors")).unwrap();
    assert!(
        model(&full) == model(&part),
        "resumed after the loss, the parameters differ"
    );
}
