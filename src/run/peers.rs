//! How this process takes part in a run: alone (every run but MPI's), or as one rank of an
//! MPI job (`crate::mpi` builds these), where rank 0 alone writes and prints.

use crate::data::Batch;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::optim::BaseHyper;
use crate::train::schedule::transport::Transport;
use crate::train::{Reduce, StepReport, Trainer};

/// This process's part in a run.
pub struct Peers {
    /// The pair's worker in another process, when this rank is a main with one.
    pub worker: Option<Box<dyn Transport>>,
    /// Whether this process writes the run directory and prints (false for ranks other than 0).
    pub leader: bool,
    /// Data-parallel: this main's shard index, the number of shards, and the sum over the
    /// mains. `None` when one trainer takes whole batches.
    pub shard: Option<(usize, usize, Box<dyn Reduce>)>,
    /// The command that continues the run, before `--resume DIR`.
    pub resume_command: String,
    /// Whether the run is an MPI job (then `--schedule mpi` is already placed).
    pub in_mpi: bool,
}

impl Peers {
    /// A run in this process alone.
    pub fn alone() -> Peers {
        Peers {
            worker: None,
            leader: true,
            shard: None,
            resume_command: "sampa train".into(),
            in_mpi: false,
        }
    }
}

/// What the epoch loop needs of [`Peers`] once the trainer holds the rest.
#[derive(Clone, Debug)]
pub(super) struct Part {
    pub leader: bool,
    /// (shard index, shards) for data-parallel runs.
    pub shard: Option<(usize, usize)>,
    pub resume_command: String,
}

impl Part {
    /// Submit one step on `batch`, or on this replica's shard of it in a data-parallel run (a
    /// shard left without examples, at the end of an epoch, takes the batch's first with
    /// weight 0, so that it still joins the replicas' sums but adds nothing); returns the
    /// report of the step before it (see [`Trainer::submit`]).
    pub fn submit(
        &self,
        gpu: &Gpu,
        trainer: &mut Trainer,
        batch: &Batch,
        hyper: BaseHyper,
    ) -> Result<Option<StepReport>> {
        let Some((i, k)) = self.shard else {
            return trainer.submit(gpu, batch, hyper);
        };
        let part = batch.shard(i, k);
        if part.is_empty() {
            trainer.set_share(0, batch.len());
            let first = batch.shard(0, batch.len());
            return trainer.submit(gpu, &first, hyper);
        }
        trainer.set_share(part.len(), batch.len());
        trainer.submit(gpu, &part, hyper)
    }
}
