//! Running the `sampa` binary in tests: a run, a scratch directory, and the one error line a
//! failed run must print.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Run `sampa` with `args` (no adapter selected from the environment).
pub fn sampa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args(args)
        .env_remove("SAMPA_ADAPTER")
        .output()
        .expect("the sampa binary runs")
}

/// Run `sampa` with `args` as [`sampa`] does, and also return the process's own peak
/// resident memory in MiB, as GNU time (`/usr/bin/time`, which scripts/setup installs) reports
/// it. Not wait4 on a child of the test: Linux counts a child's memory before exec, and a
/// child forked from a test binary whose other tests hold adapters starts out large.
pub fn sampa_peak(args: &[&str]) -> (Output, f64) {
    // One scratch directory per call: the tests of a binary run side by side.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = scratch("peak", &format!("{}-{call}", std::process::id()));
    let report = dir.join("time");
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_sampa"))
        .args(args)
        .env_remove("SAMPA_ADAPTER")
        .output()
        .expect("GNU time runs (apt-get install time; scripts/setup installs it)");
    let text = std::fs::read_to_string(&report).unwrap();
    // The last line is the peak in KiB; a line before it says how the command exited.
    let kib: f64 = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time wrote no peak memory: {text}"));
    (output, kib / 1024.0)
}

/// An empty scratch directory `group/name` under the test target's tmp directory.
pub fn scratch(group: &str, name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(group)
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The one `error:` line of a run that failed with status 1 without panicking.
pub fn error_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit status 1 expected: {}{err}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    lines[0].to_string()
}

/// The one `error:` line of a command line clap refused (status 2).
pub fn usage_error(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    lines[0].to_string()
}

/// The stdout of a run that must have succeeded (its output in the failure message).
pub fn success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The step count the checkpoint in `run` records, if it has one.
pub fn checkpoint_step(run: &std::path::Path) -> Option<usize> {
    // Checkpoints are replaced by rename, so a read sees a whole one, old or new.
    let bytes = std::fs::read(run.join("checkpoint.safetensors")).ok()?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).ok()?;
    meta.metadata().as_ref()?.get("steps")?.parse().ok()
}
