#![cfg(all(unix, not(target_arch = "wasm32")))]
//! `sampa sweep` end to end: a grid of 9 runs killed in the middle and run again finishes the
//! rest without redoing the finished ones, and its summary's means and standard deviations are
//! those of the runs' own `metrics.jsonl`; and the sweep's bad input, one line each.

mod common;

use common::cli::{error_line, sampa, scratch, success};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The grid of the tests: three optimizers, three seeds, a small MLP on part of the embedded
/// data with a validation split.
fn grid_args(out: &Path) -> Vec<String> {
    let mut v: Vec<String> = ["sweep", "--out"].map(String::from).to_vec();
    v.push(out.display().to_string());
    let rest = [
        "--seeds",
        "0,1,2",
        "--optimizers",
        "sgd,sam,sampa",
        "--",
        "--data",
        "embedded",
        "--epochs",
        "2",
        "--val-split",
        "500",
        "--train-limit",
        "1500",
        "--hidden",
        "32",
    ];
    v.extend(rest.map(String::from));
    v
}

/// The last epoch's test accuracy and the test accuracy at the first best validation epoch of
/// the run in `dir`, from its metrics.jsonl.
fn accuracies(dir: &Path) -> (f64, f64) {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let epochs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &serde_json::Value| r["kind"] == "epoch")
        .collect();
    assert_eq!(epochs.len(), 2, "{}", dir.display());
    let (mut best, mut at_best) = (f64::NEG_INFINITY, 0.0);
    for r in &epochs {
        let v = r["val_accuracy"].as_f64().unwrap();
        if v > best {
            (best, at_best) = (v, r["test_accuracy"].as_f64().unwrap());
        }
    }
    (epochs[1]["test_accuracy"].as_f64().unwrap(), at_best)
}

/// Mean and sample standard deviation.
fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64;
    (m, var.sqrt())
}

#[test]
fn a_killed_sweep_finishes_the_rest_and_summarises_the_runs_own_logs() {
    let d = scratch("sweep", "killed");
    let out = d.join("sweep");
    let args = grid_args(&out);
    // Its own process group, so the kill takes the run in progress with it, as Ctrl-C would.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args(&args)
        .env_remove("SAMPA_ADAPTER")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    // Finished: the log has the second (last) epoch's record.
    let finished = |name: &str| {
        let log = std::fs::read_to_string(out.join(name).join("metrics.jsonl"));
        let last = |l: &str| l.starts_with(r#"{"epoch":2,"#) && l.contains(r#""kind":"epoch""#);
        log.is_ok_and(|t| t.lines().any(last))
    };
    let names: Vec<String> = ["sgd", "sam", "sampa"]
        .iter()
        .flat_map(|o| (0..3).map(move |s| format!("{o}-seed{s}")))
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while names.iter().filter(|n| finished(n)).count() < 2 {
        assert!(std::time::Instant::now() < deadline, "no run finished");
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let group = format!("-{}", child.id());
    let kill = Command::new("kill")
        .args(["-s", "KILL", "--", &group])
        .status();
    assert!(kill.unwrap().success());
    let _ = child.wait();
    // The run in progress takes a moment to die (and free its directory's lock).
    let alive = || {
        let mut probe = Command::new("kill");
        let probe = probe.args(["-0", "--", &group]).stderr(Stdio::null());
        probe.status().unwrap().success()
    };
    while alive() {
        assert!(
            std::time::Instant::now() < deadline,
            "the killed run lives on"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let done: Vec<&String> = names.iter().filter(|n| finished(n)).collect();
    assert!(
        done.len() < names.len(),
        "the kill came too late to test anything"
    );
    let before: Vec<Vec<u8>> = done
        .iter()
        .map(|n| std::fs::read(out.join(n).join("metrics.jsonl")).unwrap())
        .collect();

    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = success(&sampa(&argv));
    let counts = format!("9 runs in {} ({} finished,", out.display(), done.len());
    assert!(stdout.contains(&counts), "{stdout}");
    for (n, bytes) in done.iter().zip(&before) {
        assert!(
            !stdout.contains(&format!("{n} started")),
            "{n} redone: {stdout}"
        );
        let after = std::fs::read(out.join(n).join("metrics.jsonl")).unwrap();
        assert!(&after == bytes, "{n}'s log changed");
    }

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["unfinished"].as_array().unwrap().len(), 0);
    let settings = summary["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 3);
    for (s, opt) in settings.iter().zip(["sgd", "sam", "sampa"]) {
        assert_eq!(s["name"], opt);
        assert_eq!(s["runs"], 3);
        let runs: Vec<(f64, f64)> = (0..3)
            .map(|seed| accuracies(&out.join(format!("{opt}-seed{seed}"))))
            .collect();
        let last: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let best: Vec<f64> = runs.iter().map(|r| r.1).collect();
        for (key, values) in [
            ("test_accuracy_last", last),
            ("test_accuracy_best_val", best),
        ] {
            let (m, sd) = mean_std(&values);
            let got = (
                s[key]["mean"].as_f64().unwrap(),
                s[key]["std"].as_f64().unwrap(),
            );
            assert!(
                (got.0 - m).abs() < 1e-12 && (got.1 - sd).abs() < 1e-12,
                "{opt} {key}"
            );
        }
    }
    // SGD takes one gradient a step, SAM and SAMPa two; SAMPa's two in one round.
    let evals = |i: usize, k: &str| settings[i][k].as_u64().unwrap();
    assert_eq!(evals(1, "grad_evals"), 2 * evals(0, "grad_evals"));
    assert_eq!(
        evals(1, "sequential_grad_evals"),
        2 * evals(0, "grad_evals")
    );
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("| sampa | 3 |"), "{md}");
    assert!(out.join("summary.png").is_file());
}

#[test]
fn sweep_bad_input_is_one_line() {
    let d = scratch("sweep", "bad");
    let out = d.join("sweep");
    let o = out.to_str().unwrap();
    for (flag, value) in [("--seed", "3"), ("--out", "x")] {
        let line = error_line(&sampa(&[
            "sweep", "--out", o, "--", "--data", "embedded", flag, value,
        ]));
        assert!(line.contains(flag) && line.contains("sets"), "{line}");
    }
    let line = error_line(&sampa(&["sweep", "--out", o, "--optimizers", "sgd,foo"]));
    assert!(
        line.contains("\"foo\"") && line.contains("sgd, sam, sampa"),
        "{line}"
    );
    let line = error_line(&sampa(&["sweep", "--out", o, "--", "--model", "lenet"]));
    assert!(
        line.contains("--model") && line.contains("densenet121"),
        "{line}"
    );
    // A directory holds one grid: another is refused, naming what differs.
    let tiny = [
        "--",
        "--data",
        "embedded",
        "--steps",
        "1",
        "--train-limit",
        "256",
    ];
    success(&sampa(
        &[&["sweep", "--out", o, "--optimizers", "sgd"][..], &tiny].concat(),
    ));
    let line = error_line(&sampa(
        &[&["sweep", "--out", o, "--optimizers", "sam"][..], &tiny].concat(),
    ));
    assert!(
        line.contains("other settings") && line.contains("optimizers sgd there, sam now"),
        "{line}"
    );
    let line = error_line(&sampa(&["sweep", "--out", d.to_str().unwrap()]));
    assert!(line.contains("no sweep"), "{line}");
}
