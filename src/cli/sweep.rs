//! `sampa sweep`: train a grid of runs (optimizers × ρ × λ × seeds over one set of `sampa
//! train` flags) as `sampa train` processes, one after another or one at a time on each of
//! several adapters, each into its own directory under `--out`; then summarise them
//! (`sampa::sweep`). Run it again to finish what an interruption left: finished runs are
//! skipped, interrupted ones resume from their checkpoints.

use anyhow::Context;
use clap::Parser;
use sampa::sweep::runs::{epoch_records, status};
use sampa::sweep::{Grid, RunSpec, Status, Summary};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The sweep's directory: a run directory per run (named by its setting and seed), the
    /// grid (sweep.json), the runs' console output (logs/), and summary.json, .md and .png.
    #[arg(long)]
    out: PathBuf,
    /// Seeds (comma list): each setting runs once with each.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Optimizers (comma list), as `sampa train --optimizer` names them.
    #[arg(long, value_delimiter = ',', default_value = "sgd,sam,sampa")]
    optimizers: Vec<String>,
    /// Values of ρ (comma list) for every optimizer but sgd; default: the training flags'.
    #[arg(long, value_delimiter = ',')]
    rho: Vec<f32>,
    /// Values of SAMPa's λ (comma list); default: the training flags'.
    #[arg(long, value_delimiter = ',')]
    lambda: Vec<f32>,
    /// Adapters to spread the runs over (comma list, each as `sampa train --adapter` takes
    /// it), one run at a time on each; default: one run at a time on the default adapter.
    #[arg(long, value_delimiter = ',')]
    adapters: Vec<String>,
    /// The `sampa train` flags every run shares, after `--` (all but --seed, --out,
    /// --optimizer, --rho and --lambda, which the sweep sets).
    #[arg(last = true)]
    train: Vec<String>,
}

/// `sampa train`'s flags alone, to check a run's before it starts.
#[derive(clap::Parser, Debug)]
struct TrainFlags {
    #[command(flatten)]
    _config: sampa::run::TrainConfig,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let grid = Grid {
        optimizers: a.optimizers.clone(),
        rho: a.rho.clone(),
        lambda: a.lambda.clone(),
        seeds: a.seeds.clone(),
        train: a.train.clone(),
    };
    grid.check()?;
    use clap::ValueEnum;
    use sampa::optim::OptimizerKind;
    if let Some(bad) = a
        .optimizers
        .iter()
        .find(|o| OptimizerKind::from_str(o, false).is_err())
    {
        let names: Vec<String> = OptimizerKind::value_variants()
            .iter()
            .filter_map(|k| k.to_possible_value().map(|v| v.get_name().to_string()))
            .collect();
        anyhow::bail!(
            "--optimizers: no optimizer {bad:?}; expected {}",
            names.join(", ")
        );
    }
    if !a.adapters.is_empty() && a.train.iter().any(|f| f.starts_with("--adapter")) {
        anyhow::bail!(
            "--adapters spreads the runs over adapters itself: leave --adapter out of the \
             training flags"
        );
    }
    let runs = grid.runs();
    // Every setting's flags must parse before anything starts.
    for r in &runs {
        let args = r.train_args(&grid, &a.out.join(&r.name), None, false);
        // `train` first: the flags proper follow it.
        let flags = args.into_iter().skip(1);
        if let Err(e) =
            TrainFlags::try_parse_from(std::iter::once("sampa train".into()).chain(flags))
        {
            let text = e.render().to_string();
            let line = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            anyhow::bail!("the training flags after `--`: {line}");
        }
    }
    grid.record(&a.out)?;
    let pending: VecDeque<RunSpec> = runs
        .iter()
        .filter(|r| status(&a.out.join(&r.name)) != Status::Finished)
        .cloned()
        .collect();
    sampa::outln!(
        "sweep: {} runs in {} ({} finished, {} to run)",
        runs.len(),
        a.out.display(),
        runs.len() - pending.len(),
        pending.len()
    );
    let failed = execute(&a, &grid, pending)?;
    let summary = Summary::read(&grid, &a.out)?;
    summary.write(&a.out)?;
    sampa::sweep::plot::bands(&summary.settings, &a.out.join("summary.png"))?;
    sampa::outln!("\n{}", summary.markdown());
    sampa::outln!("wrote {}", a.out.join("summary.md").display());
    if !failed.is_empty() {
        anyhow::bail!(
            "{} runs failed: {} (their output is in {}); run the sweep again to retry them",
            failed.len(),
            failed.join(", "),
            a.out.join("logs").display()
        );
    }
    Ok(())
}

/// Run `pending` as `sampa train` processes, one at a time on each adapter; the names of the
/// runs that failed.
fn execute(a: &Args, grid: &Grid, pending: VecDeque<RunSpec>) -> anyhow::Result<Vec<String>> {
    let total = pending.len();
    let queue = Mutex::new(pending);
    let failed = Mutex::new(Vec::new());
    let logs = a.out.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let exe = std::env::current_exe().context("cannot find the sampa executable")?;
    let slots: Vec<Option<&str>> = match a.adapters.is_empty() {
        true => vec![None],
        false => a.adapters.iter().map(|s| Some(s.as_str())).collect(),
    };
    // A run's number is its place in the queue: taken with it, under the lock.
    let next = || {
        let mut q = queue.lock().expect("queue");
        q.pop_front().map(|r| (total - q.len(), r))
    };
    let (next, failed, exe, logs) = (&next, &failed, &exe, &logs);
    std::thread::scope(|scope| {
        for adapter in slots {
            scope.spawn(move || {
                while let Some((n, r)) = next() {
                    let ok = one_run(exe, (grid, &a.out, logs), &r, adapter, (n, total));
                    if !ok {
                        failed.lock().expect("failures").push(r.name.clone());
                    }
                }
            });
        }
    });
    let failed = failed.lock().expect("failures").clone();
    Ok(failed)
}

/// Run `r` to its end (started, restarted or resumed as its directory says), its output
/// appended to its log; whether it succeeded.
fn one_run(
    exe: &Path,
    (grid, out, logs): (&Grid, &Path, &Path),
    r: &RunSpec,
    adapter: Option<&str>,
    (n, total): (usize, usize),
) -> bool {
    let dir = out.join(&r.name);
    let (how, args) = match status(&dir) {
        Status::Resume => {
            let mut v = vec![
                "train".to_string(),
                "--resume".into(),
                dir.display().to_string(),
            ];
            if let Some(a) = adapter {
                v.extend(["--adapter".into(), a.to_string()]);
            }
            ("resumed", v)
        }
        Status::Restart => ("restarted", r.train_args(grid, &dir, adapter, true)),
        _ => ("started", r.train_args(grid, &dir, adapter, false)),
    };
    let on = adapter.map_or(String::new(), |a| format!(" on adapter {a}"));
    sampa::outln!("[{n}/{total}] {} {how}{on}", r.name);
    let log_path = logs.join(format!("{}.log", r.name));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path);
    let (Ok(log), start) = (log, std::time::Instant::now()) else {
        sampa::errln!("{}: cannot open {}", r.name, log_path.display());
        return false;
    };
    let err = log.try_clone();
    let status = match err {
        Ok(err) => std::process::Command::new(exe)
            .args(&args)
            .stdout(log)
            .stderr(err)
            .status(),
        Err(e) => Err(e),
    };
    let seconds = start.elapsed().as_secs_f64();
    match status {
        Ok(s) if s.success() => {
            let acc = epoch_records(&dir)
                .ok()
                .and_then(|v| v.last().and_then(|r| r["test_accuracy"].as_f64()));
            let acc = acc.map_or(String::new(), |a| {
                format!(": test accuracy {:.2}%", 100.0 * a)
            });
            sampa::outln!("[{n}/{total}] {} done in {seconds:.1} s{acc}", r.name);
            true
        }
        Ok(s) => {
            sampa::errln!(
                "[{n}/{total}] {} failed ({s}); see {}",
                r.name,
                log_path.display()
            );
            false
        }
        Err(e) => {
            sampa::errln!("[{n}/{total}] {}: cannot start sampa train: {e}", r.name);
            false
        }
    }
}
