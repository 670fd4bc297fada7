//! A prepared operation: kernel launches and buffer-to-texture copies in order, recorded into
//! any command encoder as often as needed.

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
    /// Record every step of this operation into `encoder`, in order. Consecutive launches
    /// share one compute pass.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) {
        let mut i = 0;
        while i < self.steps.len() {
            if let Step::CopyToTexture {
                buffer,
                offset,
                bytes_per_row,
                texture,
                layer,
                size,
            } = &self.steps[i]
            {
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
                continue;
            }
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

    /// Number of kernel launches.
    pub fn launches(&self) -> usize {
        self.steps.len()
    }
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
