//! The suite's cases: what one sample of each does, on either target. A case holds prepared
//! work (dispatches, buffers, a trainer) and the result it will become; [`Case::sample`]
//! times one unit of it, and [`Case::result`] turns the samples into statistics in the
//! case's unit.

use super::schema::{BenchResult, Better};
use super::stats::Stats;
use crate::clock::now;
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf, Readback, Timer};
use crate::kernels::Dispatch;
use crate::optim::BaseHyper;
use crate::toy::{Method, ToyConfig};
use crate::train::Trainer;
use std::collections::BTreeMap;

/// What one sample runs.
pub enum Work {
    /// Dispatches recorded `inner` times into one submission; a sample is one repetition.
    Kernels {
        /// Recorded in order, `inner` times.
        dispatches: Vec<Dispatch>,
        /// Repetitions per submission (1 times a submission's round trip).
        inner: usize,
    },
    /// `queue.write_buffer` of `data` into `buf`, until the device has it.
    Upload(GpuBuf<f32>, Vec<f32>),
    /// A copy of `buf` back to the host through a staging buffer made once, so a sample
    /// times the copy and the mapping, not an allocation.
    Readback(GpuBuf<f32>, Readback),
    /// A burst of this many consecutive training steps (which overlap as they do in
    /// training); a sample is one step. The last field is the device memory the trainer
    /// holds, where the backend's allocator reports it: what its making allocated, to which
    /// each burst adds what it allocates (the plans, on the first).
    Steps(Box<Trainer>, Batch, usize, Option<u64>),
    /// One whole toy run of `method`; a sample is one run.
    Toy(Method, ToyConfig),
}

/// How seconds per unit of work become the case's value.
#[derive(Clone, Copy, Debug)]
pub enum Value {
    /// `amount` per unit of work over the time (GFLOP, GB, examples, steps).
    Rate(f64),
    /// The time, times `scale` (1e3 for ms, 1e6 for µs).
    Time(f64),
}

impl Value {
    fn of(self, seconds: f64) -> f64 {
        match self {
            Value::Rate(amount) => amount / seconds,
            Value::Time(scale) => seconds * scale,
        }
    }
}

/// One prepared case and its samples so far.
pub struct Case {
    template: BenchResult,
    work: Work,
    value: Value,
    host: Vec<f64>,
    device: Vec<f64>,
}

/// A result without statistics yet: what `suite`/`case` is, on `adapter`, in `unit`.
pub fn template(suite: &str, case: &str, adapter: usize, unit: &str) -> BenchResult {
    let better = if unit.ends_with("/s") {
        Better::Higher
    } else {
        Better::Lower
    };
    BenchResult {
        suite: suite.to_string(),
        case: case.to_string(),
        adapter,
        adapter2: None,
        params: BTreeMap::new(),
        unit: unit.to_string(),
        better,
        timing: "host".to_string(),
        host: None,
        device: None,
        share_of_peak: None,
        peak: None,
        extra: BTreeMap::new(),
        error: None,
    }
}

/// A result that records why its case could not run (on one line: wgpu's errors span several).
pub fn failed(mut template: BenchResult, reason: impl std::fmt::Display) -> BenchResult {
    let text = reason.to_string();
    let words: Vec<&str> = text.split_whitespace().collect();
    template.error = Some(words.join(" "));
    template
}

impl Case {
    /// A case from its result template, its work, and how a sample's seconds become a value.
    pub fn new(template: BenchResult, work: Work, value: Value) -> Case {
        Case {
            template,
            work,
            value,
            host: Vec::new(),
            device: Vec::new(),
        }
    }

    /// The case's result template.
    pub fn template(&self) -> &BenchResult {
        &self.template
    }

    /// Kernel work marked for calibration (`inner` 0) repeats until one submission lasts
    /// about `target_s`, given that one repetition took `once` seconds.
    pub fn calibrate(&mut self, target_s: f64, once: f64) {
        if let Work::Kernels { inner, .. } = &mut self.work
            && *inner == 0
        {
            *inner = ((target_s / once.max(1e-7)) as usize).clamp(1, 64);
            self.template
                .params
                .insert("per_submission".into(), inner.to_string());
        }
    }

    /// Drop the samples so far (warm-up).
    pub fn forget(&mut self) {
        self.host.clear();
        self.device.clear();
    }

    /// Take one sample: seconds of host time (and of device time where `timer` is given and
    /// the work is kernels or training steps); returns the host seconds.
    pub async fn sample(&mut self, gpu: &Gpu, timer: Option<&Timer>) -> Result<f64> {
        let (host, device) = match &mut self.work {
            Work::Kernels { dispatches, inner } => {
                let dispatches: Vec<&Dispatch> = dispatches.iter().collect();
                crate::kernels::dispatch::time_burst(gpu, timer, &dispatches, (*inner).max(1))
                    .await?
            }
            Work::Upload(buf, data) => {
                let start = now();
                gpu.write(buf, 0, data)?;
                gpu.queue.submit([]);
                gpu.idle().await?;
                (now() - start, None)
            }
            Work::Readback(buf, staging) => {
                let start = now();
                let mut encoder = gpu.device.create_command_encoder(&Default::default());
                staging.record(&mut encoder, buf);
                let index = gpu.queue.submit([encoder.finish()]);
                staging.read_after(index).await?;
                (now() - start, None)
            }
            Work::Steps(trainer, batch, burst, bytes) => {
                let hyper = BaseHyper::timed(trainer.spec().optimizer.base);
                let before = gpu.allocated_bytes();
                let timed =
                    crate::train::timed::steps_burst(gpu, timer, trainer, batch, (hyper, *burst))
                        .await?;
                if let (Some(held), Some(a), Some(b)) = (bytes, before, gpu.allocated_bytes()) {
                    *held += b.saturating_sub(a);
                }
                timed
            }
            Work::Toy(method, config) => {
                let start = now();
                crate::toy::gpu::run_gpu(gpu, *method, config).await?;
                (now() - start, None)
            }
        };
        self.host.push(host);
        self.device.extend(device);
        Ok(host)
    }

    /// The result: statistics of the samples' values, device statistics where every sample
    /// had a device time.
    pub fn result(self) -> BenchResult {
        let values = |s: &[f64]| s.iter().map(|&t| self.value.of(t)).collect::<Vec<_>>();
        let mut r = self.template;
        r.host = Stats::of(&values(&self.host));
        if !self.device.is_empty() && self.device.len() == self.host.len() {
            r.device = Stats::of(&values(&self.device));
            r.timing = "host+device".to_string();
        }
        if let Work::Steps(.., Some(bytes)) = self.work {
            // sampa allocates a trainer's buffers before their first use and keeps them, so
            // what it holds after its steps is its high-water mark.
            let mib = bytes as f64 / (1u64 << 20) as f64;
            r.extra.insert("device_mib".into(), mib);
        }
        if r.host.is_none() && r.error.is_none() {
            r.error = Some("no finite sample".to_string());
        }
        r
    }
}
