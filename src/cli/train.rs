//! `sampa train`: train a model with SGD, SAM, SAMPa or a baseline, and write a run directory.
//! The flags are [`TrainConfig`]'s own; `--resume DIR` takes them from the run's config.json.

use sampa::run::{self, RunDir, TrainConfig};
use sampa::train::Schedule;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub(super) config: TrainConfig,
    /// Continue the run in DIR from its checkpoint, with the settings of its config.json;
    /// only --epochs, --steps, --adapter, --adapter2 and --data (the same data, moved) may
    /// be given with it.
    #[arg(long, value_name = "DIR")]
    pub(super) resume: Option<PathBuf>,
}

/// The settings a resumed run may change (clap's ids); every other comes from its config.json.
const RESUMED_RUN_MAY_CHANGE: [&str; 6] =
    ["resume", "epochs", "steps", "adapter", "adapter2", "data"];

/// The saved config of the run in `dir`, with the settings a resumed run may change taken from
/// the command line; any other flag given is an error naming it.
fn resumed_config(
    dir: &std::path::Path,
    a: &Args,
    given: &[String],
) -> anyhow::Result<TrainConfig> {
    if let Some(flag) = given
        .iter()
        .find(|f| !RESUMED_RUN_MAY_CHANGE.contains(&f.as_str()))
    {
        anyhow::bail!(
            "--resume {} takes the run's settings from its config.json, so --{} cannot be \
             given with it (only --epochs, --steps, --adapter, --adapter2 and --data can)",
            dir.display(),
            flag.replace('_', "-")
        );
    }
    let mut config = RunDir::read_config(dir)?;
    let c = &a.config;
    config.out = dir.to_path_buf();
    // What is not given stays as the run had it: a run of --steps 300 resumes to step 300.
    for flag in given {
        match flag.as_str() {
            "epochs" => config.epochs = c.epochs,
            "steps" => config.steps = c.steps,
            "data" => config.data.clone_from(&c.data),
            "adapter" => config.adapter.clone_from(&c.adapter),
            "adapter2" => config.adapter2.clone_from(&c.adapter2),
            _ => {}
        }
    }
    Ok(config)
}

/// Train; `given` names the settings given on the command line (clap's ids).
pub fn run(a: Args, given: &[String]) -> anyhow::Result<()> {
    let (config, claimed) = prepare(&a, given)?;
    let result = train(&a, &config);
    unclaim(&config, claimed, result.is_err());
    result
}

/// Whether the run is an MPI job's (`--schedule mpi`, or a resumed run under a launcher, whose
/// config.json says): then `super::train_mpi` runs it.
pub fn wants_mpi(a: &Args) -> bool {
    a.config.schedule == Schedule::Mpi || (a.resume.is_some() && under_launcher())
}

/// The run's settings, checked, and its directory claimed when it is the default one (then
/// `true`).
pub(super) fn prepare(a: &Args, given: &[String]) -> anyhow::Result<(TrainConfig, bool)> {
    let mut config = match &a.resume {
        Some(dir) => resumed_config(dir, a, given)?,
        None => a.config.clone(),
    };
    config.validate()?;
    let claimed = a.resume.is_none() && !given.iter().any(|f| f == "out");
    if claimed {
        config.out = claim(&config.out)?;
    } else if a.resume.is_none() {
        // Before any work: a run that cannot write its directory should say so at once.
        RunDir::check_free(&config.out, config.overwrite)?;
    }
    Ok((config, claimed))
}

/// A run that failed before writing anything leaves no empty directory behind (remove_dir
/// removes only an empty one).
pub(super) fn unclaim(config: &TrainConfig, claimed: bool, failed: bool) {
    if !(claimed && failed) {
        return;
    }
    // Nothing but the lock of a run that never wrote its config: this process's own.
    let lock = config.out.join(run::lock::LOCK_FILE);
    let only_lock = std::fs::read_dir(&config.out)
        .is_ok_and(|mut entries| entries.all(|e| e.is_ok_and(|e| e.path() == lock)));
    if only_lock {
        let _ = std::fs::remove_file(&lock);
    }
    let _ = std::fs::remove_dir(&config.out);
}

/// Whether this process looks started by an MPI launcher (Open MPI's, MPICH's or PMIx's
/// variables).
pub(super) fn under_launcher() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

fn train(a: &Args, config: &TrainConfig) -> anyhow::Result<()> {
    let splits = run::load_data(config)?;
    sampa::outln!("data: {}", splits.description);
    let gpu = pollster::block_on(sampa::Gpu::open_flag_or_env(config.adapter.as_deref()))?;
    let summary = match a.resume {
        Some(_) => run::resume(&gpu, config, &splits)?,
        None => run::run(&gpu, config, &splits)?,
    };
    report(&summary, config)
}

/// Create the default run directory: `default` (runs/<timestamp>, one-second resolution), or
/// the first of `default-2`, `default-3`, ... that is free. Creating the directory is what
/// claims it, so two runs started in the same second get two directories.
fn claim(default: &std::path::Path) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    if let Some(parent) = default.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut name = default.to_path_buf();
    for n in 2.. {
        match std::fs::create_dir(&name) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                name = PathBuf::from(format!("{}-{n}", default.display()));
            }
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", name.display())),
        }
    }
    Ok(name)
}

pub(super) fn report(summary: &run::RunSummary, config: &TrainConfig) -> anyhow::Result<()> {
    if let (Some(b), Some(last)) = (summary.best, summary.epochs.last()) {
        sampa::outln!(
            "best validation accuracy {:.2}% at epoch {}: test accuracy {:.2}% there \
             (best.safetensors), {:.2}% at the last epoch",
            100.0 * b.val_acc,
            b.epoch,
            100.0 * b.test_acc,
            100.0 * last.test_acc
        );
    }
    match summary.epochs.last() {
        Some(last) => {
            // A regression's accuracy is NaN (it has none): its loss stands in.
            let test = if last.test_acc.is_nan() {
                format!("test loss {:.4}", last.test_loss)
            } else {
                format!("test accuracy {:.2}%", 100.0 * last.test_acc)
            };
            sampa::outln!(
                "done: {} steps in {:.1} s; {test}; wrote {}",
                summary.steps,
                summary.seconds,
                config.out.display()
            )
        }
        None => {
            let goal = match config.steps {
                Some(s) if s == summary.steps => format!("its {s} steps (--steps)"),
                _ => format!("its {} epochs", config.epochs),
            };
            sampa::outln!(
                "nothing to do: the run in {} has already taken {goal}",
                config.out.display()
            )
        }
    }
    Ok(())
}
