//! `sampa devices`: every adapter, its limits and its features.

use sampa::gpu::adapters;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let all = pollster::block_on(adapters::enumerate(&adapters::instance()));
    let list: Vec<_> = all
        .iter()
        .enumerate()
        .map(|(i, a)| sampa::AdapterSummary::of(i, a))
        .collect();
    if list.is_empty() {
        anyhow::bail!(sampa::Error::NoAdapter);
    }
    let default = adapters::select(all, None, "default").map(|(i, _)| i).ok();
    if args.json {
        // Each adapter with `default`: whether a run without --adapter takes it.
        let marked = list
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s)?;
                v["default"] = (Some(s.index) == default).into();
                Ok(v)
            })
            .collect::<serde_json::Result<Vec<_>>>()?;
        sampa::outln!("{}", serde_json::to_string_pretty(&marked)?);
        return Ok(());
    }
    let mib = |b: u64| b / (1 << 20);
    sampa::outln!(
        "{:>3}  {:<8} {:<13} {:<36} {:>9} {:>9} {:>6} {:>5} {:>4}  features",
        "#",
        "backend",
        "type",
        "name",
        "buf MiB",
        "bind MiB",
        "wg KiB",
        "invoc",
        "ssbo"
    );
    for s in &list {
        let mut features = Vec::new();
        if s.timestamp_query {
            features.push("timestamp-query");
        }
        if s.subgroups {
            features.push("subgroups");
        }
        if s.shader_f16 {
            features.push("f16");
        }
        let star = if Some(s.index) == default { "*" } else { " " };
        sampa::outln!(
            "{:>2}{star}  {:<8} {:<13} {:<36} {:>9} {:>9} {:>6} {:>5} {:>4}  {}",
            s.index,
            s.backend,
            s.device_type,
            s.name,
            mib(s.max_buffer_size),
            mib(s.max_storage_binding),
            s.max_workgroup_storage / 1024,
            s.max_invocations,
            s.max_storage_buffers,
            if features.is_empty() {
                "-".to_string()
            } else {
                features.join(", ")
            }
        );
        sampa::outln!("      driver: {}", s.driver);
    }
    sampa::outln!(
        "* default (best available: discrete, then integrated, then CPU); select with --adapter or SAMPA_ADAPTER"
    );
    Ok(())
}
