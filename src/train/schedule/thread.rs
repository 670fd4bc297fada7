//! A worker on a thread of this process, on its own adapter, reached through channels.

use super::super::worker::WorkerPass;
use super::transport::{Job, Reply, Transport};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::nn::Model;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Fault injection, in builds with the `fault-injection` feature (the tests'): the worker
/// fails when asked for this step's gradient (1-based step count).
pub const FAIL_AT_ENV: &str = "SAMPA_WORKER_FAIL_AT";

/// A running worker thread.
pub struct ThreadTransport {
    adapter: String,
    jobs: Option<mpsc::Sender<Job>>,
    replies: mpsc::Receiver<std::result::Result<Reply, String>>,
    thread: Option<JoinHandle<()>>,
}

impl ThreadTransport {
    /// Start a worker for `model` on `gpu` (a device only the new thread uses). In builds
    /// with the `fault-injection` feature, `SAMPA_WORKER_FAIL_AT=N` makes it fail at step N,
    /// for testing the hand-over.
    pub fn spawn(gpu: Gpu, model: Model, smoothing: f32, kernels: Kernels) -> Result<Self> {
        #[cfg(feature = "fault-injection")]
        let fail_at = std::env::var(FAIL_AT_ENV).ok().and_then(|v| v.parse().ok());
        #[cfg(not(feature = "fault-injection"))]
        let fail_at = None;
        Self::spawn_failing_at(gpu, (model, smoothing, kernels), fail_at)
    }

    /// [`ThreadTransport::spawn`] with an injected failure at step `fail_at` (1-based).
    pub fn spawn_failing_at(
        gpu: Gpu,
        (model, smoothing, kernels): (Model, f32, Kernels),
        fail_at: Option<usize>,
    ) -> Result<Self> {
        let adapter = gpu.adapter.short();
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (reply_tx, replies) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sampa-worker".into())
            .spawn(move || {
                let mut pass = match WorkerPass::new(gpu, model, smoothing, kernels) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = reply_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                // The first message says the worker's device and workspace came up.
                let ready = Reply {
                    grad: Vec::new(),
                    metrics: [0.0; 2],
                    state: Vec::new(),
                };
                let _ = reply_tx.send(Ok(ready));
                while let Ok(job) = job_rx.recv() {
                    let reply = if Some(job.step) == fail_at {
                        Err(format!("injected failure ({FAIL_AT_ENV}={})", job.step))
                    } else {
                        let gpu = pass.gpu().clone();
                        gpu.block_on(pass.gradient(&job)).map_err(|e| e.to_string())
                    };
                    let failed = reply.is_err();
                    if reply_tx.send(reply).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(|e| Error::Invalid(format!("cannot start the worker thread: {e}")))?;
        let mut t = ThreadTransport {
            adapter,
            jobs: Some(jobs),
            replies,
            thread: Some(thread),
        };
        t.receive().map(|_| t)
    }

    fn gone(&self) -> Error {
        Error::Gpu {
            context: format!("the worker on {}", self.adapter),
            message: "its thread stopped".into(),
        }
    }
}

impl Transport for ThreadTransport {
    fn name(&self) -> String {
        self.adapter.clone()
    }

    fn send(&mut self, job: Job) -> Result<()> {
        let jobs = self.jobs.as_ref().expect("open until dropped");
        jobs.send(job).map_err(|_| self.gone())
    }

    fn receive(&mut self) -> Result<Reply> {
        match self.replies.recv() {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(message)) => Err(Error::Gpu {
                context: format!("the worker on {}", self.adapter),
                message,
            }),
            Err(_) => Err(self.gone()),
        }
    }
}

impl Drop for ThreadTransport {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop.
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
