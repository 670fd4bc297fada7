//! The benchmark report: what `sampa bench --json` writes, the browser page offers, and
//! `sampa bench compare` reads. `docs/src/design/bench-schema.md` documents every field; a change that
//! renames or removes a field, or changes a meaning, bumps [`SCHEMA`].

use super::stats::Stats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The schema name and version every report carries.
pub const SCHEMA: &str = "sampa-bench/1";

/// Every part of the suite (a result's `suite`).
pub const PARTS: [&str; 7] = [
    "matmul",
    "bandwidth",
    "dispatch",
    "transfer",
    "step",
    "time_to_accuracy",
    "toy",
];

/// One run of the suite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The sampa version (Cargo's) that ran the suite.
    pub sampa_version: String,
    /// The git commit the binary was built from, or `unknown`.
    pub git_commit: String,
    /// When the run started, UTC, ISO 8601.
    pub date: String,
    /// The machine.
    pub host: Host,
    /// `full` or `quick`.
    pub mode: String,
    /// Every adapter the run used.
    pub adapters: Vec<AdapterRecord>,
    /// Every case on every adapter, failures included.
    pub results: Vec<BenchResult>,
}

/// The machine a report comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Operating system (`linux`, `macos`, `windows`) or the browser's user agent.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// CPU model name, or `unknown`.
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Environment settings that change the figures (`LP_NUM_THREADS` for llvmpipe).
    pub env: BTreeMap<String, String>,
}

/// One adapter, as wgpu (or the browser) describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterRecord {
    /// Index in the run's enumeration (what `--adapter` and `results[].adapter` use).
    pub index: usize,
    /// `AdapterInfo::name`.
    pub name: String,
    /// `AdapterInfo::vendor` (PCI vendor id where the backend has one).
    pub vendor: u32,
    /// `AdapterInfo::device`.
    pub device: u32,
    /// `AdapterInfo::device_type`.
    pub device_type: String,
    /// `AdapterInfo::driver`.
    pub driver: String,
    /// `AdapterInfo::driver_info`.
    pub driver_info: String,
    /// `AdapterInfo::backend`.
    pub backend: String,
    /// The limits the kernels depend on.
    pub limits: BTreeMap<String, u64>,
    /// The adapter's optional features, by wgpu's names.
    pub features: Vec<String>,
    /// In the browser: the page's `GPUAdapterInfo` fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub browser_info: BTreeMap<String, String>,
}

impl AdapterRecord {
    /// `Backend "name"`: how reports and tables name an adapter.
    pub fn label(&self) -> String {
        format!("{} {:?}", self.backend, self.name)
    }
}

/// Which way is better for a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Times.
    Lower,
    /// Rates.
    Higher,
}

/// One case on one adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchResult {
    /// The suite part: `matmul`, `bandwidth`, `dispatch`, `transfer`, `step`,
    /// `time_to_accuracy` or `toy`.
    pub suite: String,
    /// The case, unique within its suite part on one adapter; compare matches on it.
    pub case: String,
    /// The adapter's index in `adapters`.
    pub adapter: usize,
    /// The second adapter of a two-adapter case (the dual schedule's worker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter2: Option<usize>,
    /// The case's settings (sizes, model, optimizer, schedule, batch).
    pub params: BTreeMap<String, String>,
    /// The unit of `host` and `device`.
    pub unit: String,
    /// Which way is better.
    pub better: Better,
    /// `host` (wall clock around submission and completion), `host+device` (also timestamp
    /// queries) or `wall` (a whole training run).
    pub timing: String,
    /// Statistics from host timing; absent when the case failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Stats>,
    /// Statistics from the device's timestamps, where the adapter has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Stats>,
    /// The host median as a fraction of the adapter's measured peak for this kind of work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_of_peak: Option<f64>,
    /// What the peak is (`best matmul 512x512x512 tiled`, `copy bandwidth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<String>,
    /// Derived figures (`sampa_over_sam`, `examples_per_s`, `grad_evals`, `device_mib`: the
    /// device memory a step case's trainer holds, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
    /// Why the case did not run or failed; never a silent zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Not JSON, truncated, or missing fields.
    #[error("not a sampa benchmark report ({0}); write one with `sampa bench --json FILE`")]
    Malformed(String),
    /// Another schema version.
    #[error(
        "schema {found:?}, but this sampa reads {SCHEMA:?}; rerun the benchmark with this \
         version, or compare with the sampa that wrote the file"
    )]
    Version {
        /// What the file says.
        found: String,
    },
}

impl Report {
    /// Parse and check a report: the schema version first, then every field.
    pub fn parse(text: &str) -> Result<Report, SchemaError> {
        #[derive(Deserialize)]
        struct Head {
            schema: Option<serde_json::Value>,
        }
        let head: Head =
            serde_json::from_str(text).map_err(|e| SchemaError::Malformed(e.to_string()))?;
        match head.schema {
            Some(serde_json::Value::String(s)) if s == SCHEMA => {}
            Some(v) => {
                let found = v.as_str().map_or(v.to_string(), str::to_string);
                return Err(SchemaError::Version { found });
            }
            None => return Err(SchemaError::Malformed("no `schema` field".to_string())),
        }
        let report: Report =
            serde_json::from_str(text).map_err(|e| SchemaError::Malformed(e.to_string()))?;
        report.check().map_err(SchemaError::Malformed)?;
        Ok(report)
    }

    /// What serde cannot see: every result names an adapter of the report, belongs to a known
    /// part, has a known timing source, has ordered, finite, non-negative statistics or a
    /// reason, and no two results share a suite, case and adapter.
    pub fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for r in &self.results {
            if !PARTS.contains(&r.suite.as_str()) {
                return Err(format!(
                    "result {:?} has an unknown part {:?}",
                    r.case, r.suite
                ));
            }
            if !["host", "host+device", "wall"].contains(&r.timing.as_str()) {
                return Err(format!(
                    "result {:?} has an unknown timing {:?}",
                    r.case, r.timing
                ));
            }
            for s in r.host.iter().chain(&r.device) {
                let ordered =
                    s.min <= s.p10 && s.p10 <= s.median && s.median <= s.p90 && s.p90 <= s.max;
                if !ordered || s.n == 0 {
                    return Err(format!(
                        "result {:?} has disordered statistics {s:?}",
                        r.case
                    ));
                }
                // Every figure is a time or a rate: a negative one is a broken report.
                let values = [s.min, s.p10, s.median, s.p90, s.max];
                if !values.iter().all(|v| v.is_finite() && *v >= 0.0) {
                    return Err(format!(
                        "result {} {:?} has a negative or non-finite statistic (median {}); \
                         every figure is a time or a rate",
                        r.suite, r.case, s.median
                    ));
                }
            }
            let known = |i: usize| self.adapters.iter().any(|a| a.index == i);
            if !known(r.adapter) || r.adapter2.is_some_and(|i| !known(i)) {
                return Err(format!(
                    "result {:?} names an adapter the report lacks",
                    r.case
                ));
            }
            if r.host.is_none() && r.error.is_none() {
                return Err(format!(
                    "result {:?} has neither statistics nor a reason",
                    r.case
                ));
            }
            if !seen.insert((&r.suite, &r.case, r.adapter)) {
                return Err(format!("result {:?} appears twice", r.case));
            }
        }
        Ok(())
    }

    /// The adapter record with index `i`.
    pub fn adapter(&self, i: usize) -> Option<&AdapterRecord> {
        self.adapters.iter().find(|a| a.index == i)
    }
}
