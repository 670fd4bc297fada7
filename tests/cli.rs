#![cfg(not(target_arch = "wasm32"))]
//! The `sampa` binary end to end: device listing, selection errors and the benchmark.

use std::process::Command;

fn sampa(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args(args)
        .env_remove("SAMPA_ADAPTER")
        .output()
        .expect("the sampa binary runs")
}

#[test]
fn devices_lists_every_backend_as_table_and_json() {
    let out = sampa(&["devices"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("backend") && table.contains("driver:"),
        "{table}"
    );

    let out = sampa(&["devices", "--json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let list = list.as_array().expect("a JSON array");
    assert!(
        !list.is_empty(),
        "no adapters; install one with apt-get install mesa-vulkan-drivers"
    );
    let defaults: Vec<usize> = (0..list.len())
        .filter(|&i| list[i]["default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1, "one default adapter: {list:?}");
    assert!(
        table.contains(&format!("{:>2}*", defaults[0])),
        "the table's default is not the JSON's:\n{table}"
    );
    for (i, a) in list.iter().enumerate() {
        assert_eq!(a["index"], i);
        for key in [
            "backend",
            "device_type",
            "name",
            "driver",
            "max_buffer_size",
            "timestamp_query",
        ] {
            assert!(a.get(key).is_some(), "missing {key} in {a}");
        }
        let row = format!("{:>2}", i);
        assert!(table.contains(&row), "table lacks adapter {i}");
        assert!(table.contains(a["name"].as_str().unwrap()));
    }
    let backends: Vec<&str> = list
        .iter()
        .map(|a| a["backend"].as_str().unwrap())
        .collect();
    eprintln!("backends: {backends:?}");
    // On the project's machines lavapipe gives a Vulkan adapter and Mesa's EGL a GL one.
    if std::env::var("SAMPA_EXPECT_BACKENDS").is_ok() {
        for want in std::env::var("SAMPA_EXPECT_BACKENDS").unwrap().split(',') {
            assert!(
                backends.contains(&want),
                "expected a {want} adapter, found {backends:?}"
            );
        }
    }
}

#[test]
fn unknown_adapter_is_a_one_line_error() {
    let out = sampa(&[
        "bench",
        "matmul",
        "--adapter",
        "no-such-adapter-xyz",
        "--sizes",
        "8",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("error:") && l.contains("no-such"))
        .expect(&err);
    assert!(
        line.contains("no adapter matches \"no-such-adapter-xyz\" (from --adapter)"),
        "{line}"
    );
}

#[test]
fn bench_matmul_reports_gflops_and_records_a_choice() {
    let cache = std::env::temp_dir().join(format!("sampa-cli-cache-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args([
            "bench",
            "matmul",
            "--sizes",
            "64",
            "--reps",
            "1",
            "--adapter",
            "0",
        ])
        .env("SAMPA_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "64×64×64 A·B",
        "fwd L0 X·Wᵀ 128×256×784",
        "MLP step matmuls",
        "chosen variant:",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cache.join("tuning.json")).unwrap()).unwrap();
    let entry = saved.as_object().unwrap().values().next().unwrap();
    // Adapter 0 is lavapipe's Vulkan adapter, which has subgroups: every variant runs there.
    let names: Vec<&str> = sampa::kernels::matmul::Variant::ALL
        .iter()
        .map(|v| v.name())
        .collect();
    assert!(
        names.contains(&entry["variant"].as_str().unwrap()),
        "{entry}"
    );
    // Every variant was timed.
    for n in &names {
        assert!(entry["gflops"][n].as_f64().unwrap() > 0.0, "{entry}");
    }
    let _ = std::fs::remove_dir_all(cache);
}

#[test]
fn bench_step_reports_the_step_against_its_matmuls() {
    let json = std::env::temp_dir().join(format!("sampa-step-{}.json", std::process::id()));
    let out = sampa(&[
        "bench",
        "step",
        "--adapter",
        "0",
        "--models",
        "mlp",
        "--batch",
        "32",
        "--reps",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("mlp 784-256-256-10") && text.contains("ratio"),
        "{text}"
    );
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &rows[0];
    let (step, matmul, ratio) = (
        r["step_ms"].as_f64().unwrap(),
        r["matmul_ms"].as_f64().unwrap(),
        r["ratio"].as_f64().unwrap(),
    );
    assert!(
        step > 0.0 && matmul > 0.0 && (ratio - matmul / step).abs() < 1e-9,
        "{r}"
    );
    // 2·(784·256 + 256·256 + 256·10)·32 for the forward products, the same for weight
    // gradients, and 2·(256·256 + 256·10)·32 for the input gradients.
    let want =
        2.0 * 32.0 * (2.0 * (784.0 * 256.0 + 256.0 * 256.0 + 2560.0) + 256.0 * 256.0 + 2560.0)
            / 1e9;
    assert!((r["gflop"].as_f64().unwrap() - want).abs() < 1e-9, "{r}");
    let _ = std::fs::remove_file(json);
}

#[test]
fn toy_writes_csv_and_plot_and_rejects_bad_settings() {
    let out = std::env::temp_dir().join(format!("sampa-toy-{}", std::process::id()));
    let o = out.to_str().unwrap();
    let run = sampa(&[
        "toy",
        "--adapter",
        "0",
        "--methods",
        "sam,sampa-0.25,randsam",
        "--steps",
        "30",
        "--out",
        o,
    ]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let csv = std::fs::read_to_string(out.join("toy.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "method,step,grad_norm_sq,loss");
    assert_eq!(
        lines.len(),
        1 + 3 * 31,
        "one row per method and step, 0 ..= steps"
    );
    assert!(lines[1].starts_with("sam,0,8e0,2e0"), "{}", lines[1]);
    assert!(lines.iter().any(|l| l.starts_with("sampa-0.25,30,")));
    assert_eq!(&std::fs::read(out.join("toy.png")).unwrap()[1..4], b"PNG");

    let bad = |args: &[&str], want: &str| {
        let mut all = vec!["toy", "--out", o];
        all.extend_from_slice(args);
        let r = sampa(&all);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains(want), "{args:?}: {err}");
    };
    bad(
        &["--rho", "-0.1"],
        "--rho must be a non-negative finite number",
    );
    bad(&["--eta", "nan"], "--eta must be a positive finite number");
    bad(&["--methods", "sampa-1.5"], "λ must be in [0, 1]");
    bad(&["--methods", "adam"], "unknown method \"adam\"");
    bad(&["--dim", "0"], "--dim must be at least 1");
    bad(
        &["--dim", "3", "--x0", "1,2"],
        "--x0 has 2 values but --dim is 3",
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn no_mesa_complaint_about_the_runtime_directory() {
    // Mesa's EGL (the GL adapter) complains on every start when XDG_RUNTIME_DIR is unset or
    // names nothing; the CLI gives it a private directory first.
    for value in [None, Some("/nonexistent/sampa-xdg")] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sampa"));
        cmd.arg("devices").env_remove("SAMPA_ADAPTER");
        match value {
            None => cmd.env_remove("XDG_RUNTIME_DIR"),
            Some(v) => cmd.env("XDG_RUNTIME_DIR", v),
        };
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(
            !err.contains("XDG_RUNTIME_DIR"),
            "XDG_RUNTIME_DIR={value:?}: {err}"
        );
    }
}

#[test]
fn no_adapter_fails_for_the_table_and_the_json_alike() {
    // WGPU_BACKEND=metal leaves no adapter on Linux.
    for args in [&["devices"][..], &["devices", "--json"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sampa"))
            .args(args)
            .env("WGPU_BACKEND", "metal")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
        assert!(err.contains("no WebGPU adapter"), "{err}");
    }
}

/// `sampa train` for one step on the embedded data into `out`, with its tuning cache in
/// `cache`; returns its stderr.
fn one_step_tuned(cache: &std::path::Path, out: &std::path::Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args([
            "train", "--data", "embedded", "--steps", "1", "--hidden", "8",
        ])
        .args(["--adapter", "0", "--out", out.to_str().unwrap()])
        .env("SAMPA_CACHE_DIR", cache)
        .env_remove("SAMPA_ADAPTER")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err
}

#[test]
fn tuning_is_announced_cached_and_redone_for_another_version() {
    let dir = std::env::temp_dir().join(format!("sampa-tuning-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (cache, file) = (dir.join("cache"), dir.join("cache").join("tuning.json"));
    // An empty cache: the wait is announced, with what it measures, and its result.
    let first = one_step_tuned(&cache, &dir.join("a"));
    assert!(
        first.contains("tuning kernels for #0") && first.contains("tuned in"),
        "{first}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entry = saved.as_object().unwrap().values().next().unwrap().clone();
    assert_eq!(entry["sampa"], env!("CARGO_PKG_VERSION"), "{entry}");
    // A variant per shape class and for the convolutions, each the fastest it timed (GFLOP/s
    // for the products, milliseconds per probe step for the convolutions).
    for (class, higher_wins) in [("square", true), ("long-k", true), ("conv", false)] {
        let rates = entry["class_rates"][class].as_object().unwrap();
        let best = rates
            .iter()
            .map(|(v, r)| (v, r.as_f64().unwrap()))
            .max_by(|a, b| match higher_wins {
                true => a.1.total_cmp(&b.1),
                false => b.1.total_cmp(&a.1),
            })
            .unwrap();
        assert!(rates.len() >= 2 && best.1 > 0.0, "{class}: {entry}");
        assert_eq!(entry["classes"][class], best.0.as_str(), "{class}: {entry}");
    }
    // The same version again: nothing measured, nothing said.
    let second = one_step_tuned(&cache, &dir.join("b"));
    assert!(!second.contains("tuning kernels"), "{second}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    // An entry another version wrote is measured again and replaced.
    let old = text.replace(
        &format!("\"sampa\": \"{}\"", env!("CARGO_PKG_VERSION")),
        "\"sampa\": \"0.0.0-older\"",
    );
    assert_ne!(old, text);
    std::fs::write(&file, old).unwrap();
    let third = one_step_tuned(&cache, &dir.join("c"));
    assert!(third.contains("tuning kernels for #0"), "{third}");
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let entry = again.as_object().unwrap().values().next().unwrap();
    assert_eq!(entry["sampa"], env!("CARGO_PKG_VERSION"), "{entry}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `sampa train` for one step with `env` set (and SAMPA_CACHE_DIR removed unless `env` sets
/// it) in the working directory `cwd`; returns its stderr.
fn one_step_with(
    env: &[(&str, &std::path::Path)],
    cwd: &std::path::Path,
    out: &std::path::Path,
) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sampa"));
    c.args([
        "train", "--data", "embedded", "--steps", "1", "--hidden", "8",
    ])
    .args(["--adapter", "0", "--out", out.to_str().unwrap()])
    .env_remove("SAMPA_ADAPTER")
    .env_remove("SAMPA_CACHE_DIR")
    .current_dir(cwd);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err
}

#[test]
fn a_damaged_tuning_cache_is_reported_naming_itself_then_measured_again() {
    let dir = std::env::temp_dir().join(format!("sampa-bad-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (cache, file) = (dir.join("cache"), dir.join("cache").join("tuning.json"));
    one_step_tuned(&cache, &dir.join("a"));
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    // A tile with a zero in it (it once divided by zero in every run) and one too large for
    // the kernel's shared arrays.
    for (i, tile) in ["64x64x16/4x0", "4096x4096x64/8x8"].iter().enumerate() {
        let mut bad = good.clone();
        for entry in bad.as_object_mut().unwrap().values_mut() {
            entry["tile"] = (*tile).into();
        }
        std::fs::write(&file, bad.to_string()).unwrap();
        let err = one_step_tuned(&cache, &dir.join(format!("tile{i}")));
        let warning = err
            .lines()
            .find(|l| l.starts_with("warning:"))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(
            warning.contains(file.to_str().unwrap())
                && warning.contains(tile)
                && warning.contains("measured again"),
            "{err}"
        );
        assert_eq!(err.matches("warning:").count(), 1, "reported once: {err}");
        // The entry was measured again and replaced: the next run says nothing.
        let next = one_step_tuned(&cache, &dir.join(format!("next{i}")));
        assert!(
            !next.contains("warning") && !next.contains("tuning kernels"),
            "{next}"
        );
    }
    // A file that is not JSON at all.
    std::fs::write(&file, "{ not json").unwrap();
    let err = one_step_tuned(&cache, &dir.join("garbage"));
    assert!(
        err.contains(&format!("warning: {}: not a tuning cache", file.display())),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn empty_cache_variables_count_as_unset() {
    let dir = std::env::temp_dir().join(format!("sampa-xdg-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (home, cwd) = (dir.join("home"), dir.join("cwd"));
    std::fs::create_dir_all(&cwd).unwrap();
    let empty = std::path::Path::new("");
    let env = [
        ("HOME", home.as_path()),
        ("XDG_CACHE_HOME", empty),
        ("SAMPA_CACHE_DIR", empty),
    ];
    one_step_with(&env, &cwd, &dir.join("run"));
    assert!(
        home.join(".cache/sampa/tuning.json").is_file(),
        "the cache goes to ~/.cache/sampa"
    );
    let left: Vec<_> = std::fs::read_dir(&cwd).unwrap().collect();
    assert!(
        left.is_empty(),
        "nothing in the working directory: {left:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn devices_into_a_closed_pipe_exits_quietly() {
    // The reader is gone before sampa writes: its table and JSON go nowhere, without a panic.
    for args in [&["devices"][..], &["devices", "--json"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sampa"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let done = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&done.stderr);
        assert!(
            done.status.success() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}
