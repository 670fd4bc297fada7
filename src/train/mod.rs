//! The training core, the same natively and in the browser: an optimizer's program recorded
//! on a device ([`recorder`]), the [`Trainer`] that runs it step by step as a future, the
//! schedules that place its independent passes ([`schedule`]), and the stateless gradient
//! pass of the `dual` schedule's worker ([`worker`]). Reading data, checkpoints and the epoch
//! loop are the native `crate::run`'s.
//!
//! What it must not touch: files. Data arrive as batches, and run directories, checkpoints
//! and the printing of progress are `run`'s.

mod choice;
mod dual_step;
mod evaluate;
pub mod fits;
mod flight;
mod grouped_pair;
mod groups;
mod kept;
mod local_step;
mod norm_stats;
pub mod parity;
mod probes;
pub mod recorder;
pub mod schedule;
mod select;
pub mod session;
mod shard;
mod shard_step;
mod state;
mod step;
pub mod timed;
pub mod trainer;
mod watch;
pub mod worker;

pub use evaluate::Scores;
pub use flight::StepReport;
pub use probes::{Diagnosed, PerturbationNorms};
pub use recorder::TrainerSpec;
pub use schedule::{Placement, Schedule};
pub use shard::{Reduce, Shard};
pub use state::TrainerState;
pub use trainer::Trainer;
