//! `sampa bench`: with no subcommand, the whole suite on every adapter (see `suite.rs`);
//! `compare` sets saved reports side by side; `matmul`, `step` and `schedules` run one part
//! alone with its own table; `data` times an image folder's decoding.

mod compare;
mod data;
#[cfg(feature = "mpi")]
mod mpi;
mod parts;
mod schedules;
mod suite;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    what: Option<What>,
    #[command(flatten)]
    suite: suite::SuiteArgs,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Set saved reports (`--json` files, native or from web/bench.html) side by side, with
    /// each result's ratio to the first file's.
    Compare(compare::CompareArgs),
    /// Matmul GFLOP/s: square sizes and the MLP 784-256-256-10 step's products at batch 128,
    /// for each variant. Records the faster variant per adapter in the tuning cache.
    Matmul(parts::MatmulArgs),
    /// Median SGD step time (forward, backward, update, scalar readback) of the MLP
    /// 784-256-256-10 and the small CNN at batch 128, beside the time of the same step's
    /// matrix products alone, on every adapter.
    Step(parts::StepArgs),
    /// Median step time of SGD, SAM and SAMPa-0.2 with SAMPa's gradients under each schedule
    /// (serial, interleaved, fused, dual; mpi under `mpirun -np 2` in a build with the mpi
    /// feature), side by side in one run, with the ratios SAMPa/SAM and SAMPa/SGD.
    Schedules(schedules::SchedulesArgs),
    /// Images decoded per second from an image folder's training split, as training forms its
    /// batches (shuffled; --imagenet: ImageNet's random resized crops), for 1 and one thread
    /// per core (--workers).
    Data(data::DataArgs),
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        None => suite::run(args.suite),
        Some(What::Compare(a)) => compare::run(a),
        Some(What::Matmul(a)) => parts::matmul(a),
        Some(What::Step(a)) => parts::step(a),
        Some(What::Schedules(a)) => schedules::schedules(a),
        Some(What::Data(a)) => data::data(a),
    }
}
