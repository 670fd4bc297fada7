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
/// resident memory in MiB (from `wait4`, which reaps the child).
pub fn sampa_peak(args: &[&str]) -> (Output, f64) {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    // One scratch directory per call: the tests of a binary run side by side.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = scratch("peak", &format!("{}-{call}", std::process::id()));
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    // wait4 below reaps the child.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args(args)
        .env_remove("SAMPA_ADAPTER")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("the sampa binary runs");
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    };
    // ru_maxrss is in kilobytes on Linux.
    (output, usage.ru_maxrss as f64 / 1024.0)
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
