#![cfg(target_os = "linux")]
//! A run whose disk fills up: the checkpoint write fails with an error that says so and how to
//! go on, and the previous checkpoint is intact. The disk is a small tmpfs mounted in a
//! private mount namespace (`unshare -m`, as root, or `unshare -rm` otherwise), so the test
//! touches no real filesystem.

mod common;

use common::cli::scratch;
use std::path::Path;
use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_sampa");

/// SGD on a small MLP, a checkpoint after every step.
fn args(out: &str) -> Vec<String> {
    [
        "train",
        "--data",
        "embedded",
        "--train-limit",
        "512",
        "--hidden",
        "8",
        "--steps",
        "4",
        "--checkpoint-every",
        "1",
        "--out",
        out,
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn a_full_disk_fails_the_write_and_keeps_the_previous_checkpoint() {
    let d = scratch("full-disk", "run");
    // The checkpoint's size, from a run on the real disk: the tmpfs then holds one checkpoint
    // and a half, so the second checkpoint's temporary file cannot be written beside the first.
    let probe = d.join("probe");
    let out = Command::new(EXE)
        .args(args(probe.to_str().unwrap()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(probe.join("checkpoint.safetensors"))
        .unwrap()
        .len();
    let tmpfs = d.join("disk");
    let kept = d.join("kept");
    std::fs::create_dir_all(&tmpfs).unwrap();
    let quoted: Vec<String> = args(tmpfs.join("run").to_str().unwrap())
        .iter()
        .map(|a| format!("'{a}'"))
        .collect();
    let script = format!(
        "mount -t tmpfs -o size={}k tmpfs '{disk}' || exit 99; '{EXE}' {} ; status=$?; \
         cp -r '{disk}/run' '{kept}'; exit $status",
        (size * 3 / 2).div_ceil(1024) + 4,
        quoted.join(" "),
        disk = tmpfs.display(),
        kept = kept.display(),
    );
    let namespace = if is_root() { "-m" } else { "-rm" };
    let out = Command::new("unshare")
        .args([namespace, "sh", "-c", &script])
        .output()
        .expect("unshare (util-linux) runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(99),
        "cannot mount a tmpfs in a mount namespace here: {err}"
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(
        line.contains("checkpoint.safetensors: cannot write: the disk is full")
            && line.contains("previous version is intact")
            && line.contains("sampa train --resume"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // The checkpoint in place is the last good one, whole, and no temporary file is left.
    let ckpt = std::fs::read(kept.join("checkpoint.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&ckpt).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["steps"], "1");
    let leftovers: Vec<_> = std::fs::read_dir(&kept)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // With room again, the run goes on from it to the end.
    resume_to_end(&kept);
}

fn resume_to_end(run: &Path) {
    let out = Command::new(EXE)
        .args([
            "train",
            "--resume",
            run.to_str().unwrap(),
            "--data",
            "embedded",
        ])
        .output()
        .unwrap();
    let stdout = common::cli::success(&out);
    assert!(
        stdout.contains("at step 1") && stdout.contains("done: 4 steps"),
        "{stdout}"
    );
}

/// Whether this process runs as root (then a plain mount namespace suffices).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
