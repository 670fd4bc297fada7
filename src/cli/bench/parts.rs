//! The suite's parts that also run alone, with their own text tables: `sampa bench matmul`
//! and `step` (`schedules` is `schedules.rs`).

use anyhow::Context;
use sampa::bench::plan::MODELS;
use sampa::kernels::matmul::Variant;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(super) struct StepArgs {
    /// Only this adapter (index, backend or name substring); default: every adapter.
    #[arg(long)]
    adapter: Option<String>,
    /// Models to time (resnet20 and resnet56 on 32×32×3 CIFAR-shaped batches, torchvision's
    /// resnet18 at 64×64×3 and resnet50 at 224×224×3).
    #[arg(long, value_delimiter = ',', default_value = "mlp,cnn", value_parser = MODELS)]
    models: Vec<String>,
    /// Examples per step.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Timed bursts of 3 steps per model (the median step is reported; --profile times each
    /// layer this many times).
    #[arg(long, default_value_t = 10)]
    reps: usize,
    /// Also write the rows as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also time each layer's forward and backward pass alone.
    #[arg(long)]
    profile: bool,
    /// Also write, per model, the initial weights and batch of the timed steps
    /// (`MODEL.safetensors`, PyTorch's names) and the losses of three SGD steps from them
    /// (`MODEL.json`), for `scripts/torch-step --reference DIR`.
    #[arg(long, value_name = "DIR")]
    reference: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(super) struct MatmulArgs {
    /// Only this adapter (index, backend or name substring); default: every adapter.
    #[arg(long)]
    adapter: Option<String>,
    /// Variants to time: reg, reg8, tiled, subgroup or all (all an adapter can run; subgroup
    /// needs the `subgroups` feature).
    #[arg(long, default_value = "all")]
    variant: String,
    /// Square sizes.
    #[arg(long, value_delimiter = ',', default_value = "128,256,512,1024")]
    sizes: Vec<usize>,
    /// Timed repetitions per product (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Also write the rows as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub(super) fn step(args: StepArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.reps == 0 {
        anyhow::bail!("--batch and --reps must be positive");
    }
    let gpus = open_all(args.adapter.as_deref())?;
    if let Ok(n) = std::env::var("LP_NUM_THREADS") {
        sampa::outln!("LP_NUM_THREADS={n} (llvmpipe worker threads)");
    }
    sampa::outln!(
        "{:<44} {:<22} {:>9} {:>9} {:>10} {:>7} {:>8}",
        "adapter",
        "model",
        "ms/step",
        "ex/s",
        "matmul ms",
        "GFLOP",
        "ratio"
    );
    let mut rows = Vec::new();
    for gpu in &gpus {
        for name in &args.models {
            let model = sampa::bench::plan::model(name)?;
            let kernels = sampa::tuning::choose(gpu)?;
            // Measured first, on a device holding nothing else of this model's.
            let memory = sampa::bench::evaluator_bytes(gpu, (&model, kernels), args.batch)?;
            let r = sampa::bench::step(gpu, (&model, kernels), args.batch, args.reps)?;
            sampa::outln!(
                "{:<44} {:<22} {:>9.2} {:>9.0} {:>10.2} {:>7.3} {:>7.0}%",
                r.adapter,
                r.model,
                r.step_ms,
                r.examples_per_s,
                r.matmul_ms,
                r.gflop,
                100.0 * r.ratio
            );
            let st = r.structure;
            sampa::outln!(
                "    per step: {:.0} dispatches, {:.0} submissions, {:.0} blocking waits, {:.0} bytes \
                 read back, {:.2} GFLOP; heaviest launches' fewest workgroups: {}",
                st.dispatches,
                st.submissions,
                st.blocking_waits,
                st.readback_bytes,
                st.flops / 1e9,
                st.heavy_min_workgroups
                    .map_or("none carries 1 % of the FLOPs".into(), |w| w.to_string())
            );
            match memory {
                Some(b) => sampa::outln!(
                    "    one evaluator at batch {}: {:.1} MiB of device memory (the allocator's count)",
                    args.batch,
                    b as f64 / (1 << 20) as f64
                ),
                None => {
                    sampa::outln!("    one evaluator's device memory: not reported by this backend")
                }
            }
            rows.push(r);
            // Rewritten after every model, so a run that is stopped keeps what it measured.
            if let Some(path) = &args.json {
                let text = serde_json::to_string_pretty(&rows)?;
                sampa::fsutil::write_atomic(path, text.as_bytes())
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(dir) = &args.reference {
                write_reference(gpu, (name, &model, kernels), args.batch, dir)?;
            }
            if args.profile {
                profile(gpu, (&model, kernels), args.batch, args.reps)?;
            }
        }
    }
    sampa::outln!(
        "ratio: the step's matrix-product time over the whole step's, i.e. the step's FLOP rate as a share of the matmul benchmark's on the same shapes"
    );
    Ok(())
}

/// `DIR/NAME.safetensors` and `DIR/NAME.json`: see [`StepArgs::reference`].
fn write_reference(
    gpu: &sampa::Gpu,
    (name, model, kernels): (&str, &sampa::nn::Model, sampa::kernels::Kernels),
    batch: usize,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    use sampa::bench::reference;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (tensors, losses) = reference::reference_step(gpu, (model, kernels), batch)?;
    let bytes = sampa::nn::weights::serialize(&tensors, None)?;
    let weights = dir.join(format!("{name}.safetensors"));
    sampa::fsutil::write_atomic(&weights, &bytes)
        .with_context(|| format!("writing {}", weights.display()))?;
    let h = reference::HYPER;
    let info = serde_json::json!({
        "model": name,
        "description": model.name,
        "batch": batch,
        "adapter": gpu.adapter.short(),
        "lr": h.lr,
        "momentum": h.momentum,
        "weight_decay": h.weight_decay,
        "losses": losses,
    });
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(&info)? + "\n";
    sampa::fsutil::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    sampa::outln!(
        "    reference start and losses {losses:?}: {}",
        weights.display()
    );
    Ok(())
}

pub(super) fn matmul(args: MatmulArgs) -> anyhow::Result<()> {
    // None: every variant each adapter can run.
    let only = match args.variant.as_str() {
        "all" => None,
        v => Some(Variant::parse(v).context("--variant")?),
    };
    if args.sizes.contains(&0) || args.reps == 0 {
        anyhow::bail!("--sizes and --reps must be positive");
    }
    let gpus = open_all(args.adapter.as_deref())?;
    if let Ok(n) = std::env::var("LP_NUM_THREADS") {
        sampa::outln!("LP_NUM_THREADS={n} (llvmpipe worker threads)");
    }
    let mut all_rows = Vec::new();
    let mut summary = Vec::new();
    for gpu in &gpus {
        let variants = match only.map(|v| (v, v.require(gpu))) {
            None => Variant::on(gpu),
            Some((v, Ok(()))) => vec![v],
            Some((_, Err(e))) => {
                sampa::outln!("\n== skipped: {e}");
                continue;
            }
        };
        let (rows, line) = matmul_on(gpu, &variants, &args)?;
        all_rows.extend(rows);
        summary.push(line);
    }
    if summary.len() > 1 {
        sampa::outln!("\n== side by side");
        for line in &summary {
            sampa::outln!("{line}");
        }
    }
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&all_rows)?;
        sampa::fsutil::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The matmul benchmark on one adapter: its rows, printed as they come, and a summary line;
/// records the faster variant when every variant ran.
fn matmul_on(
    gpu: &sampa::Gpu,
    variants: &[Variant],
    args: &MatmulArgs,
) -> anyhow::Result<(Vec<sampa::bench::MatmulRow>, String)> {
    sampa::outln!(
        "\n== {} (driver {})",
        gpu.adapter.short(),
        gpu.adapter.driver
    );
    sampa::outln!(
        "{:<6} {:<7} {:<34} {:>10} {:>9}",
        "variant",
        "group",
        "product",
        "ms",
        "GFLOP/s"
    );
    let bench = sampa::bench::matmul(gpu, variants, &args.sizes, args.reps, |r| {
        sampa::outln!(
            "{:<6} {:<7} {:<34} {:>10.3} {:>9.2}",
            r.variant,
            r.group,
            r.shape,
            r.ms,
            r.gflops
        );
    })?;
    let rates: Vec<String> = bench
        .mlp_rates
        .iter()
        .map(|(v, r)| format!("{} {r:.2}", v.name()))
        .collect();
    sampa::outln!(
        "MLP step matmuls (all 8 products), GFLOP/s: {}",
        rates.join(", ")
    );
    if let Some((tile, rates)) = &bench.tiles {
        let each: Vec<String> = rates.iter().map(|(t, r)| format!("{t} {r:.2}")).collect();
        sampa::outln!(
            "tiled: tile search on the tuning products, GFLOP/s: {}; chosen {tile}",
            each.join(", ")
        );
    }
    // Only a run that timed every variant may change the recorded choice.
    let choice = (variants == Variant::on(gpu))
        .then(|| sampa::bench::record_choice(gpu, &bench))
        .transpose()?
        .flatten();
    let chosen = match &choice {
        Some(c) => {
            let at = sampa::tuning::cache_path().map(|p| p.display().to_string());
            sampa::outln!(
                "chosen variant: {} (recorded in {})",
                c.variant,
                at.unwrap_or("-".into())
            );
            c.variant.clone()
        }
        None => "-".to_string(),
    };
    let square: Vec<String> = bench
        .rows
        .iter()
        .filter(|r| r.group == "square")
        .map(|r| format!("{} {} {:.2}", r.shape, r.variant, r.gflops))
        .collect();
    let line = format!(
        "{}: chosen {chosen}; MLP step GFLOP/s {}; square GFLOP/s: {}",
        gpu.adapter.short(),
        rates.join(", "),
        square.join(", ")
    );
    Ok((bench.rows, line))
}

/// Every adapter, or the one `spec` selects.
fn open_all(spec: Option<&str>) -> anyhow::Result<Vec<sampa::Gpu>> {
    let specs: Vec<String> = spec.into_iter().map(str::to_string).collect();
    Ok(sampa::bench::suite::open(&specs)?)
}

fn profile(
    gpu: &sampa::Gpu,
    (model, kernels): (&sampa::nn::Model, sampa::kernels::Kernels),
    batch: usize,
    reps: usize,
) -> anyhow::Result<()> {
    let serial = sampa::train::Placement::Serial;
    let mut trainer =
        sampa::train::Trainer::seeded(gpu, (model, kernels), Default::default(), serial)?;
    let data = model.synthetic_batch(batch);
    // One real step sets the update's hyper-parameters, so timing it below does the work.
    let hyper = sampa::kernels::sgd::SgdHyper::TIMED;
    trainer.step(gpu, &data, hyper)?;
    for (name, secs) in sampa::bench::profile(trainer.evaluator(), gpu, &data, reps)? {
        sampa::outln!("    {name:<58} {:>9.2} ms", secs * 1e3);
    }
    let secs = sampa::timing::time_dispatch(gpu, trainer.update_dispatch(), reps)?;
    sampa::outln!("    {:<58} {:>9.2} ms", "SGD update", secs * 1e3);
    // The same update with AdamW as the base (two moments read and written beside x).
    let adamw = sampa::optim::OptimizerConfig {
        base: sampa::optim::BaseKind::AdamW,
        ..Default::default()
    };
    let serial = sampa::train::Placement::Serial;
    let mut adamw = sampa::train::Trainer::seeded(gpu, (model, kernels), adamw, serial)?;
    adamw.step(gpu, &data, sampa::kernels::adam::AdamHyper::TIMED)?;
    let secs = sampa::timing::time_dispatch(gpu, adamw.update_dispatch(), reps)?;
    sampa::outln!("    {:<58} {:>9.2} ms", "AdamW update", secs * 1e3);
    Ok(())
}
