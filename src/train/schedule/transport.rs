//! How the `dual` schedule's worker is reached. The worker is stateless: each step it gets a
//! point and a batch and answers with the gradient there, so all optimizer state stays on the
//! main device and the two cannot drift. A transport moves those messages; the thread and
//! channels of `super::thread` are one, and MPI between processes (`crate::mpi`) another.

use crate::data::Batch;
use crate::error::Result;

/// One step's request: the gradient at `point` on `batch`.
#[derive(Clone, Debug)]
pub struct Job {
    /// The optimizer step it belongs to (1-based).
    pub step: usize,
    /// The point, as long as the parameter vector.
    pub point: Vec<f32>,
    /// The batch.
    pub batch: Batch,
    /// The pass's dropout key (`kernels::dropout`; unused by models without dropout).
    pub dropout_key: u32,
    /// m-sharpness: a gradient per group of this many consecutive examples of the batch,
    /// instead of one over the whole batch.
    pub group: Option<usize>,
    /// Data-parallel pairs with `--sync-bn`: the batch's share of the whole batch, by which the
    /// worker weights its BatchNorm sums when it combines them with the other workers'.
    pub sync_share: Option<f32>,
}

/// The worker's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The gradient, as long as the parameter vector (each group's, one after another, for
    /// a job with a group size).
    pub grad: Vec<f32>,
    /// `[mean loss, correct count]` of the batch at the point.
    pub metrics: [f32; 2],
    /// The pass's small per-pass state for the main device (a normalisation layer's batch
    /// statistics, each group's one after another); empty for models without such layers.
    pub state: Vec<f32>,
}

/// A way to reach a worker. `send` and `receive` alternate, one job at a time.
pub trait Transport: Send {
    /// The worker, for messages (its adapter).
    fn name(&self) -> String;
    /// Hand the worker a job.
    fn send(&mut self, job: Job) -> Result<()>;
    /// Wait for the answer to the last job. Any failure of the worker (a device error, a lost
    /// device, a dead thread or process) is an error here, and the trainer then computes the
    /// pass itself from then on.
    fn receive(&mut self) -> Result<Reply>;
    /// Whether the main device may carry on alone when the worker fails. A worker thread's
    /// failure leaves this process whole; a worker process's death ends the MPI job (mpirun
    /// stops every rank), so the run must stop with its checkpoint named instead.
    fn continues_alone(&self) -> bool {
        true
    }
    /// The schedule this transport makes, for messages.
    fn schedule(&self) -> &'static str {
        "dual"
    }
}
