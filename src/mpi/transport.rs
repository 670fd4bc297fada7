//! The `dual` schedule's worker in another process: a [`Transport`] over MPI, and the mains'
//! sum for data-parallel pairs.
//!
//! Per step the point and the batch's drawn list go out (`wire`'s job, posted without waiting)
//! and the gradient comes back (its reply). The main device is already computing its own pass
//! when the host sends, so the transfer overlaps it. A worker that cannot go on sends an error message instead of
//! a reply (`SE1` and the text), which ends the run with the checkpoint named.

use super::link::{self, tag};
use crate::error::{Error, Result};
use crate::train::Reduce;
use crate::train::schedule::transport::{Job, Reply, Transport};
use crate::train::schedule::wire;
use mpi::ffi::MPI_Comm;

/// The marker of a worker's error message.
pub const FAILED: &[u8; 3] = b"SE1";
/// The marker of a worker's first message, with its adapter's name.
pub const READY: &[u8; 3] = b"SW1";

/// A communicator handle that may move to the thread that trains.
#[derive(Clone, Copy)]
pub struct Comm(pub MPI_Comm);

// SAFETY: MPI is initialised for one thread at a time (MPI_THREAD_SINGLE via MPI_Init), and
// every handle is used only by the thread that runs the training loop; nothing else calls MPI.
unsafe impl Send for Comm {}

/// The main's side of its worker rank.
pub struct MpiTransport {
    comm: Comm,
    worker: i32,
    name: String,
    /// The job in flight.
    outbox: link::Outbox,
}

impl MpiTransport {
    /// Wait for the worker at rank `worker` to report that its device is up.
    pub fn connect(comm: Comm, worker: i32) -> Result<MpiTransport> {
        let what = format!("starting the worker at rank {worker}");
        let (_, bytes) = link::receive(comm.0, (worker, &[tag::REPLY]), None, &what)?;
        let adapter = match bytes.split_at_checked(3) {
            Some((m, name)) if m == READY => String::from_utf8_lossy(name).into_owned(),
            _ => return Err(failure(worker, &bytes)),
        };
        Ok(MpiTransport {
            comm,
            worker,
            name: format!("rank {worker}, {adapter}"),
            outbox: link::Outbox::default(),
        })
    }
}

/// The error a worker's failure message (or an unreadable first message) stands for.
fn failure(worker: i32, bytes: &[u8]) -> Error {
    let message = match bytes.split_at_checked(3) {
        Some((m, text)) if m == FAILED => String::from_utf8_lossy(text).into_owned(),
        _ => "it sent a message this build cannot read; every rank must run the same sampa".into(),
    };
    Error::Peer {
        what: format!("the worker at rank {worker}"),
        message,
    }
}

impl Transport for MpiTransport {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn send(&mut self, job: Job) -> Result<()> {
        let what = format!("sending step {}'s point to rank {}", job.step, self.worker);
        let to = (self.worker, tag::JOB);
        self.outbox
            .post(self.comm.0, to, wire::encode_job(&job), &what)
    }

    fn receive(&mut self) -> Result<Reply> {
        let what = format!("waiting for rank {}'s gradient", self.worker);
        let from = (self.worker, &[tag::REPLY][..]);
        let (_, bytes) = link::receive(self.comm.0, from, Some(&mut self.outbox), &what)?;
        if bytes.starts_with(FAILED) {
            return Err(failure(self.worker, &bytes));
        }
        wire::decode_reply(&bytes)
    }

    fn continues_alone(&self) -> bool {
        false
    }

    fn schedule(&self) -> &'static str {
        "mpi"
    }
}

impl Drop for MpiTransport {
    fn drop(&mut self) {
        // The worker's loop ends with the run; a worker already gone needs no word.
        let _ = self.outbox.flush();
        let _ = link::send(
            self.comm.0,
            self.worker,
            tag::STOP,
            &[],
            "stopping the worker",
        );
    }
}

/// The mains' sum, for data-parallel runs.
pub struct MpiReduce(pub Comm);

impl Reduce for MpiReduce {
    fn sum(&mut self, values: &mut [f32]) -> Result<()> {
        link::sum(self.0.0, values, "summing the mains' gradients")
    }
}
