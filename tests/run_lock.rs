#![cfg(not(target_arch = "wasm32"))]
//! One owner per run directory: of two runs started together into one `--out`, exactly one
//! trains there and the other fails naming it; `--resume` and `--overwrite` of a live run are
//! refused; once the owner is killed, the run resumes. Bounded: every run is a few steps, and
//! every wait has a deadline.

mod common;
use common::cli::{checkpoint_step, scratch};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `sampa train` into `out` for a few steps, with a shared tuning cache; through strace with
/// every mkdir delayed by 30 ms when `slow`, so the two runs' directory creations overlap.
fn train(out: &Path, cache: &Path, slow: bool, extra: &[&str]) -> Command {
    let bin = env!("CARGO_BIN_EXE_sampa");
    let mut c = if slow {
        let mut c = Command::new("strace");
        c.args([
            "-f",
            "-qq",
            "--seccomp-bpf",
            "-e",
            "trace=mkdir,mkdirat",
            "-o",
            "/dev/null",
        ])
        .args(["-e", "inject=mkdir,mkdirat:delay_enter=30000", bin]);
        c
    } else {
        Command::new(bin)
    };
    c.args([
        "train",
        "--data",
        "embedded",
        "--train-limit",
        "256",
        "--batch",
        "64",
    ])
    .args([
        "--hidden",
        "8",
        "--adapter",
        "vulkan",
        "--out",
        out.to_str().unwrap(),
    ])
    .args(extra)
    .env("SAMPA_CACHE_DIR", cache)
    .env_remove("SAMPA_ADAPTER")
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    c
}

fn finish(c: Child) -> (bool, String) {
    let o = c.wait_with_output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The id the lock file of `dir` names.
fn owner_id(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".sampa.lock"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn of_two_runs_started_together_into_one_directory_exactly_one_owns_it() {
    assert!(
        Command::new("strace")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "this test slows mkdir with strace: apt-get install strace (scripts/setup does)"
    );
    let d = scratch("lock", "race");
    let cache = d.join("cache");
    // Tune once, so the racing runs start as fast as each other.
    let (ok, err) = finish(
        train(&d.join("tune"), &cache, false, &["--steps", "1"])
            .spawn()
            .unwrap(),
    );
    assert!(ok, "{err}");
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut live = 0;
    for round in 0..50 {
        assert!(Instant::now() < deadline, "round {round}: out of time");
        let out = d.join(format!("round{round}"));
        let slow = round % 2 == 0;
        let a = train(&out, &cache, slow, &["--steps", "2"])
            .spawn()
            .unwrap();
        let b = train(&out, &cache, slow, &["--steps", "2"])
            .spawn()
            .unwrap();
        let results = [finish(a), finish(b)];
        let winners = results.iter().filter(|r| r.0).count();
        assert_eq!(winners, 1, "round {round}: {results:?}");
        let loser = &results.iter().find(|r| !r.0).unwrap().1;
        let id = owner_id(&out);
        // The loser names the owner, training still or (when the loser came late) ended.
        assert!(
            loser.contains(&format!("sampa process {id}")) && !loser.contains("panicked"),
            "round {round}: the loser must name the owner {id}: {loser}"
        );
        live += loser.contains("is training") as usize;
        // The directory holds the winner's run alone: its config and its model.
        assert!(out.join("config.json").is_file() && out.join("model.safetensors").is_file());
    }
    // Losers that met the owner training were refused by the lock, the others (which came
    // after the owner's whole run) by the run it left: both must be seen to be exercised.
    eprintln!("{live} of 50 losers met the owner training");
    assert!(
        live > 0,
        "no loser met the owner while it trained: the lock went untested"
    );
}

#[test]
fn a_live_run_refuses_resume_and_overwrite_and_resumes_once_killed() {
    let d = scratch("lock", "live");
    let (cache, out) = (d.join("cache"), d.join("run"));
    let long = ["--epochs", "1000", "--checkpoint-every", "2"];
    let mut owner = train(&out, &cache, false, &long).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while checkpoint_step(&out).is_none() {
        assert!(Instant::now() < deadline, "no checkpoint within 300 s");
        assert!(owner.try_wait().unwrap().is_none(), "the owner ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let id = owner.id().to_string();
    let bin = env!("CARGO_BIN_EXE_sampa");
    let refused = |args: &[&str]| {
        let o = Command::new(bin)
            .args(args)
            .env("SAMPA_CACHE_DIR", &cache)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("sampa process {id} is training")),
            "{args:?}: {err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{err}"
        );
    };
    let o = out.to_str().unwrap();
    refused(&["train", "--resume", o, "--steps", "3"]);
    refused(&["train", "--data", "embedded", "--out", o, "--overwrite"]);
    refused(&["train", "--data", "embedded", "--out", o]);
    assert!(owner.try_wait().unwrap().is_none(), "the owner trains on");
    owner.kill().unwrap(); // SIGKILL
    owner.wait().unwrap();
    let at = checkpoint_step(&out).unwrap();
    let steps = (at + 2).to_string();
    let o2 = Command::new(bin)
        .args(["train", "--resume", o, "--steps", &steps])
        .env("SAMPA_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o2.stderr);
    assert!(o2.status.success(), "{err}");
    assert_eq!(checkpoint_step(&out), Some(at + 2));
}
