//! The machine a native report comes from: OS, CPU, and the settings that change figures.

use super::schema::{Host, Report, SCHEMA};
use std::collections::BTreeMap;

/// Environment variables recorded with a report, because they change what is measured.
const RECORDED_ENV: [&str; 4] = [
    "LP_NUM_THREADS",
    "SAMPA_ADAPTER",
    "WGPU_BACKEND",
    "MESA_GL_VERSION_OVERRIDE",
];

/// This machine.
pub fn host() -> Host {
    let env: BTreeMap<String, String> = RECORDED_ENV
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    Host {
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        cpu: cpu_model().unwrap_or_else(|| "unknown".to_string()),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        env,
    }
}

/// The CPU's model name: `/proc/cpuinfo` on Linux, `sysctl` on macOS.
fn cpu_model() -> Option<String> {
    if let Ok(text) = std::fs::read_to_string("/proc/cpuinfo") {
        return text
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string());
    }
    let out = std::process::Command::new("sysctl")
        .args(["-n", "machdep.cpu.brand_string"])
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// An empty report of this build on this machine, dated now.
pub fn empty_report(quick: bool) -> Report {
    Report {
        schema: SCHEMA.to_string(),
        sampa_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: env!("SAMPA_GIT_COMMIT").to_string(),
        date: crate::fsutil::iso_timestamp(),
        host: host(),
        mode: if quick { "quick" } else { "full" }.to_string(),
        adapters: Vec::new(),
        results: Vec::new(),
    }
}
