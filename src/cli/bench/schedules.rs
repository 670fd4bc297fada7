//! `sampa bench schedules`: SGD, SAM and SAMPa-0.2 steps under each schedule of SAMPa's pair
//! (with `mpi` under `mpirun -np 2`), timed in alternating rounds, with ratios to SAM and SGD.

use sampa::nn::Model;
use sampa::optim::{OptimizerConfig, OptimizerKind};
use sampa::train::Placement;
use sampa::train::schedule::thread::ThreadTransport;

#[derive(clap::Args, Debug)]
pub(super) struct SchedulesArgs {
    /// The main adapter (index, backend or name substring); default: the best one.
    #[arg(long)]
    adapter: Option<String>,
    /// The dual schedule's worker adapter; default: the best other one.
    #[arg(long)]
    adapter2: Option<String>,
    /// Models to time.
    #[arg(long, value_delimiter = ',', default_value = "mlp,cnn", value_parser = ["mlp", "cnn"])]
    models: Vec<String>,
    /// Schedules for SAMPa.
    /// `mpi` needs `mpirun -np 2` and a build with `--features mpi`.
    #[arg(long, value_delimiter = ',', default_value = "serial,interleaved,fused,dual",
          value_parser = ["serial", "interleaved", "fused", "dual", "mpi"])]
    schedules: Vec<String>,
    /// Examples per step.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Rounds, each timing a burst of 3 steps of every case in turn (the median is reported).
    #[arg(long, default_value_t = 10)]
    reps: usize,
}

pub(super) fn schedules(args: SchedulesArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.reps == 0 {
        anyhow::bail!("--batch and --reps must be positive");
    }
    let mpi = mpi_start(&args)?;
    let gpu = pollster::block_on(sampa::Gpu::open_flag_or_env(args.adapter.as_deref()))?;
    let wants_dual = args.schedules.iter().any(|s| s == "dual");
    let other = if wants_dual {
        pollster::block_on(sampa::Gpu::open_other(
            &gpu.adapter,
            args.adapter2.as_deref(),
        ))?
    } else {
        None
    };
    if let Ok(n) = std::env::var("LP_NUM_THREADS") {
        sampa::outln!("LP_NUM_THREADS={n} (llvmpipe worker threads)");
    }
    sampa::outln!("main adapter: {}", gpu.adapter.short());
    match &other {
        Some(o) => sampa::outln!("dual worker:  {}", o.adapter.short()),
        None if wants_dual => sampa::outln!("dual: no second adapter, skipped"),
        None => {}
    }
    let kernels = sampa::tuning::choose(&gpu)?;
    let worker_kernels = other.as_ref().map(sampa::tuning::choose).transpose()?;
    for name in &args.models {
        let model = sampa::bench::plan::model(name)?;
        let dual = other.as_ref().zip(worker_kernels);
        let mut cases = schedule_cases(&args.schedules, &model, dual)?;
        if let Some(placement) = mpi_case(&mpi, &model)? {
            cases.push((sampa_config(), placement));
        }
        let labels: Vec<String> = cases[2..]
            .iter()
            .map(|(_, p)| format!("SAMPa-0.2, {}", p.name()))
            .collect();
        let ms = sampa::timing::steps_side_by_side(
            &gpu,
            (&model, kernels),
            args.batch,
            args.reps,
            cases,
        )?;
        print_schedules(&model, &args, &labels, &ms);
    }
    Ok(())
}

#[cfg(feature = "mpi")]
type Mpi = Option<sampa::mpi::Cluster>;
/// Without the feature there is never an MPI job.
#[cfg(not(feature = "mpi"))]
type Mpi = Option<std::convert::Infallible>;

/// With `mpi` among the schedules: MPI's start (rank 1 serves and exits there).
#[cfg(feature = "mpi")]
fn mpi_start(args: &SchedulesArgs) -> anyhow::Result<Mpi> {
    match args.schedules.iter().any(|s| s == "mpi") {
        true => super::mpi::start(&args.models),
        false => Ok(None),
    }
}

#[cfg(not(feature = "mpi"))]
fn mpi_start(args: &SchedulesArgs) -> anyhow::Result<Mpi> {
    if args.schedules.iter().any(|s| s == "mpi") {
        anyhow::bail!(
            "--schedules mpi: this sampa was built without MPI; build it with `cargo build \
             --release --features mpi` and run it under `mpirun -np 2`"
        );
    }
    Ok(None)
}

#[cfg(feature = "mpi")]
fn mpi_case(mpi: &Mpi, model: &Model) -> anyhow::Result<Option<Placement>> {
    mpi.as_ref()
        .map(|c| super::mpi::placement(c, model))
        .transpose()
}

#[cfg(not(feature = "mpi"))]
fn mpi_case(_: &Mpi, _: &Model) -> anyhow::Result<Option<Placement>> {
    Ok(None)
}

fn sampa_config() -> OptimizerConfig {
    OptimizerConfig {
        kind: OptimizerKind::Sampa,
        ..Default::default()
    }
}

/// SGD and SAM serially, then SAMPa-0.2 under each of `schedules` (`dual` with the worker on
/// `dual`'s adapter, skipped without one).
fn schedule_cases(
    schedules: &[String],
    model: &Model,
    dual: Option<(&sampa::Gpu, sampa::kernels::Kernels)>,
) -> anyhow::Result<Vec<(OptimizerConfig, Placement)>> {
    let opt = |kind| OptimizerConfig {
        kind,
        ..Default::default()
    };
    let mut cases = vec![
        (opt(OptimizerKind::Sgd), Placement::Serial),
        (opt(OptimizerKind::Sam), Placement::Serial),
    ];
    for schedule in schedules {
        let placement = match (schedule.as_str(), dual) {
            ("serial", _) => Placement::Serial,
            ("interleaved", _) => Placement::Interleaved,
            ("fused", _) => Placement::Fused,
            // Added by the caller, which has the MPI job.
            ("mpi", _) => continue,
            (_, Some((o, k))) => {
                let t = ThreadTransport::spawn(o.clone(), model.clone(), 0.0, k)?;
                Placement::Dual(Box::new(t))
            }
            (_, None) => continue,
        };
        cases.push((opt(OptimizerKind::Sampa), placement));
    }
    Ok(cases)
}

/// The schedules table of one model: SGD, SAM, then each SAMPa case with its ratios.
fn print_schedules(model: &Model, args: &SchedulesArgs, labels: &[String], ms: &[f64]) {
    let (sgd, sam) = (ms[0], ms[1]);
    sampa::outln!(
        "{} at batch {} (median of {} rounds, each timing {} steps of every case in turn):",
        model.name,
        args.batch,
        args.reps,
        sampa::timing::BURST
    );
    sampa::outln!("    {:<34} {:>9.2} ms/step", "SGD", sgd);
    sampa::outln!("    {:<34} {:>9.2} ms/step", "SAM", sam);
    for (label, ms) in labels.iter().zip(&ms[2..]) {
        sampa::outln!(
            "    {label:<34} {ms:>9.2} ms/step   SAMPa/SAM {:.2}   SAMPa/SGD {:.2}",
            ms / sam,
            ms / sgd
        );
    }
}
