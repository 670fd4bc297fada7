//! Resolving `--schedule` for a run: the worker of `dual` on a second adapter, and `auto`'s
//! choice, measured once per adapter, model and batch and cached beside the tuning cache.

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::nn::Model;
use crate::optim::OptimizerConfig;
use crate::train::schedule::thread::ThreadTransport;
use crate::train::{Placement, Schedule};
use std::collections::BTreeMap;

/// Resolve `schedule` for a run of `model` with `optimizer` on `gpu`, whose kernel forms are
/// `kernels`; `adapter2` is the `--adapter2` spec.
pub fn resolve(
    (gpu, kernels): (&Gpu, Kernels),
    schedule: Schedule,
    adapter2: Option<&str>,
    (model, optimizer, smoothing): (&Model, &OptimizerConfig, f32),
    batch: usize,
) -> Result<Placement> {
    if schedule == Schedule::Mpi {
        // An MPI job places its passes before the run starts (crate::mpi); here there is none.
        return Err(Error::Invalid(
            "--schedule mpi runs as an MPI job, two ranks per pair: `mpirun -np 2 sampa train \
             --schedule mpi ...`, with a sampa built with `--features mpi`"
                .into(),
        ));
    }
    let program = crate::optim::program(optimizer);
    if !program.has_pair() {
        // Only a program with two independent gradients can be placed; say so rather than
        // ignore a schedule that was asked for.
        if !matches!(schedule, Schedule::Serial | Schedule::Auto) {
            crate::errln!(
                "warning: --schedule {} has no effect with --optimizer {}: its gradients run \
                 one after the other, so the run uses serial",
                schedule.name(),
                optimizer.label()
            );
        }
        return Ok(Placement::Serial);
    }
    let worker = |required: bool| -> Result<Option<Placement>> {
        match pollster::block_on(Gpu::open_other(&gpu.adapter, adapter2))? {
            Some(other) => {
                let kernels = crate::tuning::choose(&other)?;
                let t = ThreadTransport::spawn(other, model.clone(), smoothing, kernels)?;
                Ok(Some(Placement::Dual(Box::new(t))))
            }
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
        Schedule::Dual => worker(true)?.expect("required"),
        Schedule::Mpi => unreachable!("returned above"),
        Schedule::Auto => match worker(false)? {
            Some(dual) => dual,
            None => single_adapter_choice((gpu, kernels), model, optimizer, batch)?,
        },
    })
}

fn cache_path() -> Option<std::path::PathBuf> {
    crate::tuning::cache_path().map(|p| p.with_file_name("schedules.json"))
}

/// The schedule cache's entries (key to schedule name) from its text; a cache that does not
/// parse is empty (measured again and rewritten), never an error.
pub fn parse_cache(text: &str) -> BTreeMap<String, String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The placement a cached schedule name means (an unknown name: serial, always correct).
pub fn placement(name: &str) -> Placement {
    match name {
        "interleaved" => Placement::Interleaved,
        "fused" => Placement::Fused,
        _ => Placement::Serial,
    }
}

/// The fastest of serial, interleaved and fused for steps of `model` at `batch` on `gpu`
/// with the run's kernel forms,
/// from the cache or measured side by side on throwaway trainers (two rounds of a few steps of
/// each, see [`crate::timing::steps_side_by_side`]; they differ by a few percent, less than a
/// machine drifts between one measurement and the next) and cached.
pub fn single_adapter_choice(
    (gpu, kernels): (&Gpu, Kernels),
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
        .map(|s| parse_cache(&s))
        .unwrap_or_default();
    let names = ["serial", "interleaved", "fused"];
    match cache.get(&key) {
        Some(name) if names.contains(&name.as_str()) => return Ok(placement(name)),
        Some(name) => crate::errln!(
            "warning: {}: the schedule {name:?} cached for {} is not one of {}; dropped and \
             measured again",
            path.as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
            gpu.adapter.short(),
            names.join(", ")
        ),
        None => {}
    }
    let cases = names.iter().map(|n| (*optimizer, placement(n))).collect();
    let ms = crate::timing::steps_side_by_side(gpu, (model, kernels), batch, 2, cases)?;
    let best = (0..names.len())
        .min_by(|&a, &b| ms[a].total_cmp(&ms[b]))
        .expect("three cases");
    cache.insert(key, names[best].to_string());
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(&cache).expect("cache serialises");
        if let Err(e) = crate::fsutil::write_atomic(&path, text.as_bytes()) {
            crate::errln!(
                "warning: could not save the schedule choice to {}: {e}",
                path.display()
            );
        }
    }
    Ok(placement(names[best]))
}
