//! Where the two independent gradients of a SAMPa step run (`--schedule`).
//!
//! - `serial`: one gradient pass after the other on the main device: the reference.
//! - `interleaved`: both passes in one submission, layer by layer in turn; they use separate
//!   workspaces, so neighbouring dispatches are independent and a GPU may overlap them.
//! - `fused`: both passes as one, each layer kernel processing the two parameter sets (side
//!   by side in one buffer) in one dispatch, the replica index coming from the grid: half the
//!   dispatches and barriers, and twice the work per dispatch for small layers.
//! - `dual`: the look-ahead gradient g_n on a second adapter (a [`Worker`]) while the main
//!   device computes g_p; y_next goes out and g_n comes back through host memory.
//! - `auto`: `dual` when a second adapter exists, else the fastest of `serial`, `interleaved`
//!   and `fused` for this adapter, model and batch, measured once and cached.
//!
//! Optimizers without two independent gradients in a step (SGD, SAM, RandSAM, OptSAM,
//! SAM-db) always run `serial`.

use super::worker::Worker;
use super::{OptimizerConfig, OptimizerKind};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::Model;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `--schedule` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// `dual` with a second adapter, else the measured faster single-adapter schedule.
    Auto,
    /// One gradient after the other on the main adapter.
    Serial,
    /// Both gradients in one submission, layer by layer in turn.
    Interleaved,
    /// Each layer's kernels process both parameter sets in one dispatch.
    Fused,
    /// The look-ahead gradient on a second adapter.
    Dual,
}

/// A resolved schedule, holding the worker for `dual`.
#[derive(Debug)]
pub enum Placement {
    /// One gradient after the other.
    Serial,
    /// Layer by layer in turn, one submission.
    Interleaved,
    /// Both passes in the same dispatches.
    Fused,
    /// g_n on the worker's adapter.
    Dual(Worker),
}

impl Placement {
    /// The schedule's name.
    pub fn name(&self) -> String {
        match self {
            Placement::Serial => "serial".into(),
            Placement::Interleaved => "interleaved".into(),
            Placement::Fused => "fused".into(),
            Placement::Dual(w) => format!("dual (worker: {})", w.adapter),
        }
    }
}

/// Whether `optimizer` has two gradients a schedule can place side by side.
pub fn has_parallel_pair(optimizer: &OptimizerConfig) -> bool {
    optimizer.kind == OptimizerKind::Sampa
}

/// Resolve `schedule` for a run of `model` on `gpu`; `adapter2` is the `--adapter2` spec.
pub fn resolve(
    gpu: &Gpu,
    schedule: Schedule,
    adapter2: Option<&str>,
    model: &Model,
    optimizer: &OptimizerConfig,
    smoothing: f32,
    batch: usize,
) -> Result<Placement> {
    if !has_parallel_pair(optimizer) {
        return Ok(Placement::Serial);
    }
    let worker = |required: bool| -> Result<Option<Worker>> {
        match pollster::block_on(Gpu::open_other(&gpu.adapter, adapter2))? {
            Some(other) => Ok(Some(Worker::spawn(other, model.clone(), smoothing)?)),
            None if required => Err(Error::Invalid(format!(
                "--schedule dual needs a second adapter, and {} is the only one; install \
                 another driver (for example `apt-get install mesa-vulkan-drivers libegl-mesa0` \
                 gives a Vulkan and a GL adapter) or use --schedule interleaved",
                gpu.adapter.short()
            ))),
            None => Ok(None),
        }
    };
    Ok(match schedule {
        Schedule::Serial => Placement::Serial,
        Schedule::Interleaved => Placement::Interleaved,
        Schedule::Fused => Placement::Fused,
        Schedule::Dual => Placement::Dual(worker(true)?.expect("required")),
        Schedule::Auto => match worker(false)? {
            Some(w) => Placement::Dual(w),
            None => single_adapter_choice(gpu, model, optimizer, batch)?,
        },
    })
}

fn cache_path() -> Option<std::path::PathBuf> {
    crate::tuning::cache_path().map(|p| p.with_file_name("schedules.json"))
}

/// The fastest of serial, interleaved and fused for SAMPa steps of `model` at `batch` on `gpu`,
/// from the cache or measured side by side on throwaway trainers (two rounds of a few steps of
/// each, see [`crate::bench::steps_side_by_side`]; they differ by a few percent, less than this
/// machine drifts between one measurement and the next) and cached.
pub fn single_adapter_choice(
    gpu: &Gpu,
    model: &Model,
    optimizer: &OptimizerConfig,
    batch: usize,
) -> Result<Placement> {
    let key = format!(
        "{} | {} | batch {batch} | serial, interleaved, fused",
        gpu.adapter.key(),
        model.name
    );
    let path = cache_path();
    let mut cache: BTreeMap<String, String> = path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let placement = |name: &str| match name {
        "interleaved" => Placement::Interleaved,
        "fused" => Placement::Fused,
        _ => Placement::Serial,
    };
    if let Some(name) = cache.get(&key) {
        return Ok(placement(name));
    }
    let names = ["serial", "interleaved", "fused"];
    let cases = names.iter().map(|n| (*optimizer, placement(n))).collect();
    let ms = crate::bench::steps_side_by_side(gpu, model, batch, 2, cases)?;
    let best = (0..names.len())
        .min_by(|&a, &b| ms[a].total_cmp(&ms[b]))
        .expect("three cases");
    let name = names[best];
    cache.insert(key, name.to_string());
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(&cache).expect("cache serialises");
        if let Err(e) = crate::fsutil::write_atomic(&path, text.as_bytes()) {
            eprintln!(
                "warning: could not save the schedule choice to {}: {e}",
                path.display()
            );
        }
    }
    Ok(placement(name))
}
