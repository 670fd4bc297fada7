//! Typed storage buffers and their upload and readback.

use super::awaited::Awaited;
use super::device::Gpu;
use crate::error::{Error, Result};
use std::marker::PhantomData;

/// A storage buffer of `len` elements of `T` (f32 for tensors, u32 for labels). Clones refer
/// to the same GPU buffer.
#[derive(Debug, Clone)]
pub struct GpuBuf<T> {
    /// The wgpu buffer (storage, copy source and destination).
    pub buffer: wgpu::Buffer,
    /// Number of `T` elements.
    pub len: usize,
    _t: PhantomData<T>,
}

impl<T: bytemuck::Pod> GpuBuf<T> {
    /// Size in bytes of the elements (the buffer itself may be padded).
    pub fn bytes(&self) -> u64 {
        (self.len * std::mem::size_of::<T>()) as u64
    }
}

// Zero-sized buffers cannot be bound, and kernels may read a buffer as vec4s, so every buffer
// is a whole number of 16-byte vectors.
fn padded(bytes: u64) -> u64 {
    bytes.max(16).div_ceil(16) * 16
}

/// Floats per row when a flat vector is copied into a texture 64 rgba32f texels wide: buffer
/// to texture copies need rows of a multiple of 256 bytes.
pub const TEXTURE_ROW_FLOATS: usize = 256;

impl Gpu {
    /// A scratch buffer of at least `len` elements that every dispatch asking for `what` on
    /// this device shares: for values one dispatch writes and the next reads, which nothing
    /// needs after that (a split product's partial sums, up to 16 MiB each), or a binding a
    /// kernel never reads. The queue runs dispatches one after another, so sharing changes no
    /// value, where a buffer per prepared dispatch added up with the model's products. A
    /// request longer than the buffer gets a new one, rounded up to a power of two, which later
    /// requests share; the dispatches prepared with the old one keep it. One `what` holds one
    /// element type.
    pub fn scratch<T: bytemuck::Pod>(&self, len: usize, what: &'static str) -> Result<GpuBuf<T>> {
        let mut bufs = self.scratch.lock().expect("no holder panics");
        if let Some((buffer, have)) = bufs.get(what).filter(|(_, have)| *have >= len) {
            return Ok(GpuBuf {
                buffer: buffer.clone(),
                len: *have,
                _t: PhantomData,
            });
        }
        let b = self.zeros::<T>(len.next_power_of_two(), what)?;
        bufs.insert(what, (b.buffer.clone(), b.len));
        Ok(b)
    }

    /// A zero-filled buffer of `len` elements; `what` names it in errors.
    pub fn zeros<T: bytemuck::Pod>(&self, len: usize, what: &str) -> Result<GpuBuf<T>> {
        self.zeros_in(len, len, what)
    }

    /// A zero-filled vector of `len` floats whose allocation is whole rows of
    /// [`TEXTURE_ROW_FLOATS`], so kernels can read it through a texture copy.
    pub fn zeros_rows(&self, len: usize, what: &str) -> Result<GpuBuf<f32>> {
        self.zeros_in(len, len.next_multiple_of(TEXTURE_ROW_FLOATS), what)
    }

    fn zeros_in<T: bytemuck::Pod>(&self, len: usize, room: usize, what: &str) -> Result<GpuBuf<T>> {
        let bytes = (room * std::mem::size_of::<T>()) as u64;
        self.check_size(what, bytes)?;
        let buffer = self.checked(&format!("creating buffer {what}"), || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(what),
                size: padded(bytes),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        Ok(GpuBuf {
            buffer,
            len,
            _t: PhantomData,
        })
    }

    /// A buffer holding a copy of `data`.
    pub fn upload<T: bytemuck::Pod>(&self, data: &[T], what: &str) -> Result<GpuBuf<T>> {
        let buf = self.zeros(data.len(), what)?;
        self.write(&buf, 0, data)?;
        Ok(buf)
    }

    /// Overwrite elements `offset..offset + data.len()` of `buf`.
    pub fn write<T: bytemuck::Pod>(
        &self,
        buf: &GpuBuf<T>,
        offset: usize,
        data: &[T],
    ) -> Result<()> {
        if offset + data.len() > buf.len {
            return Err(Error::shape(
                "write",
                format!(
                    "{} elements at offset {offset} do not fit a buffer of {}",
                    data.len(),
                    buf.len
                ),
            ));
        }
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let start = (offset * std::mem::size_of::<T>()) as u64;
        if bytes.len().is_multiple_of(4) && start.is_multiple_of(4) {
            self.queue.write_buffer(&buf.buffer, start, bytes);
        } else {
            return Err(Error::shape("write", "writes must be 4-byte aligned"));
        }
        Ok(())
    }

    /// Submit `commands` to the queue (counted, see [`super::counters`]).
    pub fn submit(&self, commands: wgpu::CommandBuffer) -> wgpu::SubmissionIndex {
        super::counters::submitted();
        self.queue.submit([commands])
    }

    /// Copy `buf` back to the host (blocking).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read<T: bytemuck::Pod>(&self, buf: &GpuBuf<T>) -> Result<Vec<T>> {
        self.block_on(self.read_async(buf))
    }

    /// Copy `buf` back to the host.
    pub async fn read_async<T: bytemuck::Pod>(&self, buf: &GpuBuf<T>) -> Result<Vec<T>> {
        let bytes = buf.bytes();
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: padded(bytes),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&buf.buffer, 0, &staging, 0, padded(bytes));
        let index = self.submit(encoder.finish());
        map_read_after(&staging, bytes, Awaited::Index(index)).await
    }
}

/// Map `staging` for reading, wait, and copy out the first `bytes` bytes as `T`s.
pub(crate) async fn map_read<T: bytemuck::Pod>(
    staging: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<T>> {
    map_read_after(staging, bytes, Awaited::All).await
}

/// [`map_read`], awaiting only the submission `awaited` names rather than all submitted
/// work, so later submissions keep running while the host takes the values.
pub(crate) async fn map_read_after<T: bytemuck::Pod>(
    staging: &wgpu::Buffer,
    bytes: u64,
    awaited: Awaited,
) -> Result<Vec<T>> {
    let slice = staging.slice(..);
    let (tx, rx) = futures_channel::oneshot::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    // In the browser the event loop completes the mapping; natively `Gpu::block_on` polls the
    // device for the submission named here.
    awaiting(awaited);
    super::counters::read_back(bytes);
    let failed = |message: String| Error::Gpu {
        context: "reading a buffer back".to_string(),
        message,
    };
    let mapped = rx
        .await
        .map_err(|_| failed("the device dropped the mapping".to_string()))?;
    mapped.map_err(|e| failed(e.to_string()))?;
    let out = {
        let view = slice
            .get_mapped_range()
            .map_err(|e| failed(e.to_string()))?;
        bytemuck::cast_slice::<u8, T>(&view[..bytes as usize]).to_vec()
    };
    staging.unmap();
    Ok(out)
}

/// Say which submission the readback being awaited on this thread depends on, for the native
/// executor.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn awaiting(awaited: Awaited) {
    super::awaited::AWAITED.with(|a| *a.borrow_mut() = Some(awaited));
}

/// In the browser the event loop completes mappings: nothing to say.
#[cfg(target_arch = "wasm32")]
pub(crate) fn awaiting(_awaited: Awaited) {}

/// A persistent staging buffer for small, frequent reads (the per-step loss and correct
/// count), so the hot path allocates nothing.
#[derive(Debug)]
pub struct Readback {
    staging: wgpu::Buffer,
    len: usize,
}

impl Readback {
    /// Room for `len` f32 values.
    pub fn new(gpu: &Gpu, len: usize) -> Readback {
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: padded((len * 4) as u64),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Readback { staging, len }
    }

    /// Values it holds.
    pub fn capacity(&self) -> usize {
        self.len
    }

    /// Record a copy of the first `len` values of `src` into the staging buffer.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder, src: &GpuBuf<f32>) {
        encoder.copy_buffer_to_buffer(
            &src.buffer,
            0,
            &self.staging,
            0,
            padded((self.len * 4) as u64),
        );
    }

    /// Record a copy of `count` values of `src` from value `from` on to value `at` of the
    /// staging buffer, so one readback can carry several buffers' values.
    pub fn record_part(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        src: &GpuBuf<f32>,
        from: usize,
        count: usize,
        at: usize,
    ) {
        assert!(
            from + count <= src.len && at + count <= self.len,
            "readback part out of range"
        );
        encoder.copy_buffer_to_buffer(
            &src.buffer,
            (from * 4) as u64,
            &self.staging,
            (at * 4) as u64,
            (count * 4) as u64,
        );
    }

    /// Wait for the recorded copy and return the values.
    pub async fn read_async(&self) -> Result<Vec<f32>> {
        map_read(&self.staging, (self.len * 4) as u64).await
    }

    /// Blocking [`Readback::read_async`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.block_on(self.read_async())
    }

    /// Await `submission` only (which recorded the copy) and return the values; work
    /// submitted after it keeps the device busy meanwhile.
    pub async fn read_after(&self, submission: wgpu::SubmissionIndex) -> Result<Vec<f32>> {
        self.read_first_after(self.len, submission).await
    }

    /// [`Readback::read_after`] for the first `count` values only, for a submission that
    /// copied no more than those.
    pub async fn read_first_after(
        &self,
        count: usize,
        submission: wgpu::SubmissionIndex,
    ) -> Result<Vec<f32>> {
        let bytes = (count.min(self.len) * 4) as u64;
        map_read_after(&self.staging, bytes, Awaited::Index(submission)).await
    }

    /// [`Readback::read_after`] for a submission that later work already follows on the
    /// queue (a pipelined step's, read once the next step is submitted): the wait leaves the
    /// device busy, and the counters count it as a wait but not as a blocking one.
    pub async fn read_behind(&self, submission: wgpu::SubmissionIndex) -> Result<Vec<f32>> {
        let bytes = (self.len * 4) as u64;
        map_read_after(&self.staging, bytes, Awaited::Behind(submission)).await
    }
}
