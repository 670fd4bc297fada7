//! A prepared operation: kernel launches and buffer-to-texture copies in order, recorded into
//! any command encoder as often as needed, with the points where a data-parallel step may
//! combine values across processes before going on ([`SyncPoint`]).

use crate::gpu::GpuBuf;

/// A prepared operation: kernel launches and copies in order (a matmul stages its operands
/// first; the norm has two stages). Record it into any command encoder, as often as needed;
/// the scratch resources it uses stay alive through its bind groups and copy steps.
#[derive(Debug, Clone)]
pub struct Dispatch {
    steps: Vec<Step>,
}

#[derive(Debug, Clone)]
enum Step {
    Compute {
        pipeline: wgpu::ComputePipeline,
        bind_group: wgpu::BindGroup,
        groups: [u32; 3],
        /// The launch's arithmetic, for the counters' census (0 unless a product says).
        flops: f64,
    },
    /// A point where a data-parallel step with synchronised BatchNorm combines values across
    /// its processes before the steps after it run; recording alone passes over it.
    Sync(SyncPoint),
    /// A buffer-to-texture copy: rows of `bytes_per_row` bytes from `offset` into a texture,
    /// from array layer `layer` on.
    CopyToTexture {
        buffer: wgpu::Buffer,
        offset: u64,
        bytes_per_row: u32,
        texture: wgpu::Texture,
        layer: u32,
        size: wgpu::Extent3d,
    },
}

impl Dispatch {
    /// Record every step of this operation into `encoder`, in order, passing over its
    /// synchronisation points. Consecutive launches share one compute pass.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) {
        let mut at = 0;
        while let Some((_, next)) = self.record_to_sync(encoder, at) {
            at = next;
        }
    }

    /// Record the steps from `from` on up to the next synchronisation point: that point and
    /// the step after it, or `None` once the operation is recorded to its end.
    pub fn record_to_sync(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        from: usize,
    ) -> Option<(&SyncPoint, usize)> {
        let mut i = from;
        while i < self.steps.len() {
            match &self.steps[i] {
                Step::Sync(sync) => return Some((sync, i + 1)),
                Step::CopyToTexture {
                    buffer,
                    offset,
                    bytes_per_row,
                    texture,
                    layer,
                    size,
                } => {
                    encoder.copy_buffer_to_texture(
                        wgpu::TexelCopyBufferInfo {
                            buffer,
                            layout: wgpu::TexelCopyBufferLayout {
                                offset: *offset,
                                bytes_per_row: Some(*bytes_per_row),
                                rows_per_image: Some(size.height),
                            },
                        },
                        wgpu::TexelCopyTextureInfo {
                            origin: wgpu::Origin3d {
                                x: 0,
                                y: 0,
                                z: *layer,
                            },
                            ..texture.as_image_copy()
                        },
                        *size,
                    );
                    i += 1;
                }
                Step::Compute { .. } => {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    while let Some(Step::Compute {
                        pipeline,
                        bind_group,
                        groups,
                        flops,
                    }) = self.steps.get(i)
                    {
                        crate::gpu::counters::launched(*groups, *flops);
                        pass.set_pipeline(pipeline);
                        pass.set_bind_group(0, bind_group, &[]);
                        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                        i += 1;
                    }
                }
            }
        }
        None
    }

    /// A synchronisation point alone.
    pub(crate) fn sync(sync: SyncPoint) -> Dispatch {
        Dispatch {
            steps: vec![Step::Sync(sync)],
        }
    }

    /// A copy of `size` texels from `buffer` (rows of `bytes_per_row` bytes from byte `offset`)
    /// into `texture`, from array layer `layer` on.
    pub(crate) fn copy_to_texture(
        buffer: &wgpu::Buffer,
        offset: u64,
        bytes_per_row: u32,
        (texture, layer): (&wgpu::Texture, u32),
        size: wgpu::Extent3d,
    ) -> Dispatch {
        Dispatch {
            steps: vec![Step::CopyToTexture {
                buffer: buffer.clone(),
                offset,
                bytes_per_row,
                texture: texture.clone(),
                layer,
                size,
            }],
        }
    }

    /// One kernel launch.
    pub(crate) fn compute(
        pipeline: wgpu::ComputePipeline,
        bind_group: wgpu::BindGroup,
        groups: [u32; 3],
    ) -> Dispatch {
        Dispatch {
            steps: vec![Step::Compute {
                pipeline,
                bind_group,
                groups,
                flops: 0.0,
            }],
        }
    }

    /// This operation with its last launch marked as doing `flops` floating-point operations
    /// (the products say; see [`crate::gpu::counters`]).
    pub(crate) fn with_flops(mut self, total: f64) -> Dispatch {
        if let Some(Step::Compute { flops, .. }) = self.steps.last_mut() {
            *flops = total;
        }
        self
    }

    /// An operation that does nothing (a layer whose work another layer's kernel does).
    pub fn empty() -> Dispatch {
        Dispatch { steps: Vec::new() }
    }

    /// This operation followed by `next`.
    pub fn then(mut self, next: Dispatch) -> Dispatch {
        self.steps.extend(next.steps);
        self
    }

    /// Number of kernel launches (and copies).
    pub fn launches(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| !matches!(s, Step::Sync(_)))
            .count()
    }
}

/// Values that every process of a data-parallel step must combine before the launches after
/// this point read them (SyncBatchNorm's per-channel sums, see `kernels::batchnorm`): in each
/// replica `r` of `buf`, the values `values` (counted from `r * stride`) become the sum over
/// the processes of each one's values times its share of the batch. When `invstd` gives
/// `(at, eps)`, the combined values are variances, and 1/√(v + eps) of each goes to the run
/// starting at `at` as well.
#[derive(Debug, Clone)]
pub struct SyncPoint {
    /// The buffer holding the values.
    pub buf: GpuBuf<f32>,
    /// Replicas side by side in `buf`, `stride` values apart.
    pub replicas: usize,
    /// Values from one replica's start to the next's.
    pub stride: usize,
    /// Which of each replica's values to combine.
    pub values: std::ops::Range<usize>,
    /// Where the inverse standard deviations of combined variances go, and eps.
    pub invstd: Option<(usize, f32)>,
}

#[cfg(not(target_arch = "wasm32"))]
impl crate::gpu::Gpu {
    /// Record `dispatches` into one command buffer, submit, and wait for completion
    /// (benchmarks, tests and tools; the training step is a future instead).
    pub fn run(&self, dispatches: &[&Dispatch]) -> crate::Result<()> {
        let index = self.checked("submitting compute work", || {
            let mut encoder = self.device.create_command_encoder(&Default::default());
            for d in dispatches {
                d.record(&mut encoder);
            }
            self.submit(encoder.finish())
        })?;
        self.wait(Some(index))
    }
}

/// One submission of `inner` repetitions of `dispatches`, bracketed by timestamps when there
/// is a timer: seconds per repetition, of host time and of device time.
pub async fn time_burst(
    gpu: &crate::gpu::Gpu,
    timer: Option<&crate::gpu::Timer>,
    dispatches: &[&Dispatch],
    inner: usize,
) -> crate::Result<(f64, Option<f64>)> {
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    if let Some(t) = timer {
        t.begin(&mut encoder);
    }
    for _ in 0..inner {
        for d in dispatches {
            d.record(&mut encoder);
        }
    }
    if let Some(t) = timer {
        t.end(&mut encoder);
    }
    let commands = encoder.finish();
    let start = crate::clock::now();
    let index = gpu.checked("timed kernels", || gpu.submit(commands))?;
    gpu.idle().await?;
    let host = (crate::clock::now() - start) / inner as f64;
    let device = match timer {
        Some(t) => Some(t.seconds(index).await? / inner as f64),
        None => None,
    };
    Ok((host, device))
}
