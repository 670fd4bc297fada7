//! Device time from timestamp queries, and waiting for submitted work on either target.
//!
//! A [`Timer`] brackets recorded work between two empty compute passes: the first writes a
//! timestamp at its beginning, the last at its end, and the pair is resolved into a buffer and
//! read back with the submission. The difference, times the queue's timestamp period, is the
//! time the device spent between the two, without the host's submission and wake-up costs.
//! Adapters without `TIMESTAMP_QUERY` (GL, most browsers by default) get no timer, and the
//! benchmarks then report host time only.

use super::awaited::Awaited;
use super::buffer::map_read_after;
use super::device::Gpu;
use crate::error::{Error, Result};

/// Two timestamps around recorded work (see the module docs).
#[derive(Debug)]
pub struct Timer {
    set: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    staging: wgpu::Buffer,
    period_ns: f64,
}

impl Timer {
    /// A timer on `gpu`, or `None` when its device has no timestamp queries.
    pub fn new(gpu: &Gpu) -> Option<Timer> {
        if !gpu
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
        {
            return None;
        }
        let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("bench timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let buffer = |usage| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("bench timestamps"),
                size: 16,
                usage,
                mapped_at_creation: false,
            })
        };
        Some(Timer {
            set,
            resolved: buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
            staging: buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
            period_ns: gpu.queue.get_timestamp_period() as f64,
        })
    }

    fn mark(&self, encoder: &mut wgpu::CommandEncoder, begin: bool) {
        let (b, e) = if begin {
            (Some(0), None)
        } else {
            (None, Some(1))
        };
        encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("bench timestamp"),
            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                query_set: &self.set,
                beginning_of_pass_write_index: b,
                end_of_pass_write_index: e,
            }),
        });
    }

    /// Record the opening timestamp.
    pub fn begin(&self, encoder: &mut wgpu::CommandEncoder) {
        self.mark(encoder, true);
    }

    /// Record the closing timestamp and the copy that [`Timer::seconds`] reads.
    pub fn end(&self, encoder: &mut wgpu::CommandEncoder) {
        self.mark(encoder, false);
        encoder.resolve_query_set(&self.set, 0..2, &self.resolved, 0);
        encoder.copy_buffer_to_buffer(&self.resolved, 0, &self.staging, 0, 16);
    }

    /// Device seconds between the two timestamps of `submission`.
    pub async fn seconds(&self, submission: wgpu::SubmissionIndex) -> Result<f64> {
        let t: Vec<u64> = map_read_after(&self.staging, 16, Awaited::Index(submission)).await?;
        Ok(t[1].saturating_sub(t[0]) as f64 * self.period_ns * 1e-9)
    }
}

impl Gpu {
    /// Wait, without blocking the thread, until the device has finished everything submitted.
    pub async fn idle(&self) -> Result<()> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        super::buffer::awaiting(Awaited::All);
        rx.await.map_err(|_| Error::Gpu {
            context: "waiting for the device".to_string(),
            message: "the device was lost".to_string(),
        })
    }
}
