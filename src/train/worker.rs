//! The second adapter of the `dual` schedule: a stateless gradient worker on its own thread.
//!
//! Each step the main device sends it SAMPa's look-ahead point y_next and the new batch; it
//! answers with g_n = ∇L(y_next; batch), the batch's loss and correct count. It holds no
//! optimizer state, so the two devices cannot drift: everything else stays on the main device.
//! Any failure (a wgpu error, a lost device, a panic on the thread) comes back as an error, and
//! the trainer then computes g_n itself from then on.

use crate::data::Batch;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf, Readback};
use crate::nn::Model;
use crate::nn::evaluator::Evaluator;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// A test hook: the worker fails when asked for this step's gradient (1-based step count).
pub const FAIL_AT_ENV: &str = "SAMPA_WORKER_FAIL_AT";

struct Job {
    step: usize,
    point: Vec<f32>,
    batch: Batch,
}

/// What the worker sends back for one step.
#[derive(Debug)]
pub struct Reply {
    /// g_n, as long as the parameter vector.
    pub grad: Vec<f32>,
    /// `[mean loss, correct count]` of the batch at y_next.
    pub metrics: [f32; 2],
}

/// A running worker thread on its own adapter.
pub struct Worker {
    /// The worker's adapter, for messages.
    pub adapter: String,
    jobs: Option<mpsc::Sender<Job>>,
    replies: mpsc::Receiver<std::result::Result<Reply, String>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Worker({})", self.adapter)
    }
}

impl Worker {
    /// Start a worker for `model` on `gpu` (its own device, which only this thread uses).
    /// `SAMPA_WORKER_FAIL_AT=N` makes it fail at step N, for testing the fallback.
    pub fn spawn(gpu: Gpu, model: Model, smoothing: f32) -> Result<Worker> {
        let fail_at = std::env::var(FAIL_AT_ENV).ok().and_then(|v| v.parse().ok());
        Self::spawn_failing_at(gpu, model, smoothing, fail_at)
    }

    /// [`Worker::spawn`] with an injected failure at step `fail_at` (1-based), if any.
    pub fn spawn_failing_at(
        gpu: Gpu,
        model: Model,
        smoothing: f32,
        fail_at: Option<usize>,
    ) -> Result<Worker> {
        let adapter = gpu.adapter.short();
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (reply_tx, replies) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sampa-worker".into())
            .spawn(move || {
                let mut state = match WorkerState::new(gpu, model, smoothing) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = reply_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = reply_tx.send(Ok(Reply {
                    grad: Vec::new(),
                    metrics: [0.0; 2],
                }));
                while let Ok(job) = job_rx.recv() {
                    let reply = if Some(job.step) == fail_at {
                        Err(format!("injected failure ({FAIL_AT_ENV}={})", job.step))
                    } else {
                        state.gradient(&job).map_err(|e| e.to_string())
                    };
                    let failed = reply.is_err();
                    if reply_tx.send(reply).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(|e| Error::Invalid(format!("cannot start the worker thread: {e}")))?;
        let w = Worker {
            adapter,
            jobs: Some(jobs),
            replies,
            thread: Some(thread),
        };
        // The first message says whether the worker's device and workspace came up.
        w.receive().map(|_| w)
    }

    /// Ask for g_n at `point` on `batch` for optimizer step `step` (1-based).
    pub fn send(&self, step: usize, point: Vec<f32>, batch: Batch) -> Result<()> {
        let jobs = self.jobs.as_ref().expect("open until dropped");
        jobs.send(Job { step, point, batch })
            .map_err(|_| self.gone())
    }

    /// Wait for the answer to the last [`Worker::send`].
    pub fn receive(&self) -> Result<Reply> {
        match self.replies.recv() {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(message)) => Err(Error::Gpu {
                context: format!("the worker on {}", self.adapter),
                message,
            }),
            Err(_) => Err(self.gone()),
        }
    }

    fn gone(&self) -> Error {
        Error::Gpu {
            context: format!("the worker on {}", self.adapter),
            message: "its thread stopped".into(),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop.
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct WorkerState {
    gpu: Gpu,
    point: GpuBuf<f32>,
    grads: GpuBuf<f32>,
    evaluator: Evaluator,
    /// g_n followed by `[loss, correct]`: one readback per step.
    back: Readback,
}

impl WorkerState {
    fn new(gpu: Gpu, model: Model, smoothing: f32) -> Result<WorkerState> {
        let n = model.param_count();
        let point = gpu.zeros::<f32>(n, "worker point")?;
        let grads = gpu.zeros::<f32>(n, "worker gradient")?;
        let evaluator = Evaluator::new(model, smoothing, &point, &grads)?;
        Ok(WorkerState {
            back: Readback::new(&gpu, n + 2),
            gpu,
            point,
            grads,
            evaluator,
        })
    }

    fn gradient(&mut self, job: &Job) -> Result<Reply> {
        let gpu = &self.gpu;
        gpu.write(&self.point, 0, &job.point)?;
        let plan = self.evaluator.load(gpu, &job.batch)?;
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        Evaluator::record_gradient(plan, &mut encoder);
        let n = self.grads.len;
        self.back.record_part(&mut encoder, &self.grads, n, 0);
        self.back.record_part(&mut encoder, &plan.metrics, 2, n);
        gpu.checked("the worker's gradient", || {
            gpu.queue.submit([encoder.finish()])
        })?;
        let mut grad = self.back.read(gpu)?;
        let metrics = [grad[n], grad[n + 1]];
        grad.truncate(n);
        Ok(Reply { grad, metrics })
    }
}
