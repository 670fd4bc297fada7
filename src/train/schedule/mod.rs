//! Where the independent gradient passes of a step run (`--schedule`). A schedule places a
//! program's passes; it never changes what they compute, and on one adapter every schedule
//! gives `serial`'s trajectory bit for bit.
//!
//! - `serial`: one pass after the other on the main device: the reference.
//! - `interleaved`: both passes in one submission, layer by layer in turn; they use separate
//!   workspaces, so neighbouring dispatches are independent and a GPU may overlap them.
//! - `fused`: both passes as one, each layer kernel processing the two parameter sets (side
//!   by side in one buffer) in one dispatch, the replica index coming from the grid.
//! - `dual`: the second pass of the pair on a stateless worker behind a [`Transport`] (another
//!   adapter on a thread): its point goes out and its gradient comes back.
//! - `mpi`: `dual` with the worker in another process under `mpirun` (cargo feature `mpi`;
//!   `crate::mpi` on native builds), and data-parallel pairs with more ranks.
//! - `auto`: `dual` when a second adapter exists, else the fastest of the three for this
//!   adapter, model and batch (chosen by the native run, which can measure).
//!
//! Programs without two independent passes in a stage (SGD, SAM, the baselines) run `serial`
//! whatever is asked.

pub mod dual;
pub mod fused;
#[cfg(not(target_arch = "wasm32"))]
pub mod thread;
pub mod transport;
pub mod wire;

use transport::Transport;

/// The `--schedule` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// `dual` with a second adapter, else the measured faster single-adapter schedule.
    Auto,
    /// One pass after the other on the main adapter.
    Serial,
    /// Both passes in one submission, layer by layer in turn.
    Interleaved,
    /// Each layer's kernels process both parameter sets in one dispatch.
    Fused,
    /// The second pass on a worker.
    Dual,
    /// The second pass on a worker process under mpirun (a build with the `mpi` feature).
    Mpi,
}

impl Schedule {
    /// The schedule's name, as `--schedule` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Auto => "auto",
            Schedule::Serial => "serial",
            Schedule::Interleaved => "interleaved",
            Schedule::Fused => "fused",
            Schedule::Dual => "dual",
            Schedule::Mpi => "mpi",
        }
    }
}

/// A resolved schedule: what a trainer is asked to do, with the worker's transport for `dual`.
pub enum Placement {
    /// One pass after the other.
    Serial,
    /// Layer by layer in turn, one submission.
    Interleaved,
    /// Both passes in the same dispatches.
    Fused,
    /// The second pass of the pair on the worker behind this transport.
    Dual(Box<dyn Transport>),
}

impl std::fmt::Debug for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Placement::Dual(t) => write!(f, "Dual({})", t.name()),
            p => write!(f, "{}", p.schedule().name()),
        }
    }
}

impl Placement {
    /// The schedule this placement is.
    pub fn schedule(&self) -> Schedule {
        match self {
            Placement::Serial => Schedule::Serial,
            Placement::Interleaved => Schedule::Interleaved,
            Placement::Fused => Schedule::Fused,
            Placement::Dual(_) => Schedule::Dual,
        }
    }

    /// The schedule's name, with the worker for `dual`.
    pub fn name(&self) -> String {
        match self {
            Placement::Dual(t) => format!("{} (worker: {})", t.schedule(), t.name()),
            p => p.schedule().name().to_string(),
        }
    }
}
