//! One module per `shaders/*.wgsl` file: the Rust wrapper that owns the pipeline, a CPU f64
//! reference beside it, and (in `tests/kernels.rs`) a GPU-vs-CPU test.
//!
//! A kernel call is prepared once into a [`Dispatch`]: pipeline, bind group and grid size,
//! with its shape parameters in a small uniform buffer. Training records the same dispatches
//! every step, so the hot path allocates nothing. Shapes and buffer sizes are checked when a
//! dispatch is prepared, and a mismatch is an [`Error::Shape`], never a panic or a GPU fault.

pub mod bias;
pub mod conv;
pub mod matmul;
pub mod maxpool;
pub mod norm;
pub mod perturb;
pub mod relu;
pub mod sgd;
pub mod softmax_xent;
pub mod transpose;
pub mod vector;

use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};
use wgpu::util::DeviceExt;

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
            }) = self.steps.get(i)
            {
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

/// One binding of a launch after the uniform block.
pub(crate) enum Bind<'a> {
    Buf(&'a wgpu::Buffer),
    Tex(&'a wgpu::TextureView),
    /// A nearest-filtering sampler over the launch's textures.
    Sampler(&'a wgpu::Sampler),
}

/// A contiguous run of elements inside a buffer: a tensor inside the flat parameter vector,
/// or a whole activation buffer.
#[derive(Debug, Clone, Copy)]
pub struct View<'a, T = f32> {
    /// The buffer.
    pub buf: &'a GpuBuf<T>,
    /// First element.
    pub offset: usize,
    /// Number of elements.
    pub len: usize,
    /// How many copies of the view lie side by side in the buffer (1 unless replicated):
    /// a replicated kernel dispatch processes them all, one per grid z index.
    pub replicas: usize,
    /// Elements from the start of one replica to the start of the next.
    pub stride: usize,
}

impl<T> GpuBuf<T> {
    /// The whole buffer as a view.
    pub fn view(&self) -> View<'_, T> {
        View {
            buf: self,
            offset: 0,
            len: self.len,
            replicas: 1,
            stride: 0,
        }
    }

    /// The buffer as `count` equal replicas side by side (a fused evaluator's workspace).
    pub fn replicas(&self, count: usize) -> View<'_, T> {
        let count = count.max(1);
        let len = self.len / count;
        View {
            buf: self,
            offset: 0,
            len,
            replicas: count,
            stride: len,
        }
    }

    /// Elements `offset..offset + len`; an error if that runs past the end.
    pub fn slice(&self, offset: usize, len: usize) -> Result<View<'_, T>> {
        if offset + len > self.len {
            return Err(Error::shape(
                "slice",
                format!(
                    "elements {offset}..{} lie outside a buffer of {}",
                    offset + len,
                    self.len
                ),
            ));
        }
        Ok(View {
            buf: self,
            offset,
            len,
            replicas: 1,
            stride: 0,
        })
    }
}

impl<'a, T> View<'a, T> {
    /// This view and `count - 1` more, each `stride` elements after the one before; an error
    /// if the last runs past the end of the buffer.
    pub fn repeated(self, count: usize, stride: usize) -> Result<View<'a, T>> {
        let count = count.max(1);
        let end = self.offset + (count - 1) * stride + self.len;
        if end > self.buf.len || (count > 1 && stride < self.len) {
            return Err(Error::shape(
                "replicas",
                format!(
                    "{count} replicas of {} elements every {stride} from {} do not fit a \
                     buffer of {} without overlapping",
                    self.len, self.offset, self.buf.len
                ),
            ));
        }
        Ok(View {
            replicas: count,
            stride: if count > 1 { stride } else { 0 },
            ..self
        })
    }

    /// `(replicas, stride)`, for [`Replicas::of`].
    pub(crate) fn rep(&self) -> (usize, usize) {
        (self.replicas, self.stride)
    }

    /// Fail with a shape error unless this view holds at least `need` elements.
    pub(crate) fn expect_len(&self, op: &'static str, name: &str, need: usize) -> Result<()> {
        if self.len < need {
            return Err(Error::shape(
                op,
                format!("{name} needs {need} elements, got a view of {}", self.len),
            ));
        }
        Ok(())
    }
}

/// What a shader file and entry point need to be built into a [`Dispatch`].
pub(crate) struct Launch<'a> {
    pub label: &'static str,
    pub source: &'static str,
    pub entry: &'static str,
    pub constants: &'a [(&'a str, f64)],
    /// Binding 0: uniform parameters.
    pub params: Params<'a>,
    /// Layer kernels: the replica block appended to the uniform bytes.
    pub replicas: Option<Replicas>,
    /// Bindings 1..: storage buffers and textures, in binding order.
    pub bindings: &'a [Bind<'a>],
    pub groups: [u32; 3],
}

/// The replica block of a layer kernel. Every layer kernel can process several independent
/// copies of its operands in one dispatch (the fused schedule runs SAMPa's two gradient passes
/// this way): the grid's z axis counts replicas, and replica r reads and writes buffer binding
/// i + 1 at `r * strides[i]` elements past replica 0. The strides follow the kernel's own
/// parameters in its uniform block, at the next 16-byte boundary, as the WGSL field
/// `rs: vec4<u32>`. A single dispatch has one replica and zero strides, so it computes exactly
/// what it computes alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Replicas {
    pub count: u32,
    pub strides: [u32; 4],
}

impl Replicas {
    /// The replicas of a dispatch from its bindings' `(replicas, stride)`, in binding order:
    /// they must agree on the count.
    pub(crate) fn of(op: &'static str, views: &[(usize, usize)]) -> Result<Replicas> {
        let count = views.first().map_or(1, |v| v.0);
        if views.iter().any(|v| v.0 != count) || views.len() > 4 {
            return Err(Error::shape(
                op,
                format!("every operand needs the same number of replicas, got {views:?}"),
            ));
        }
        let mut strides = [0u32; 4];
        for (s, v) in strides.iter_mut().zip(views) {
            *s = as_u32(op, "replica stride", v.1)?;
        }
        Ok(Replicas {
            count: as_u32(op, "replicas", count)?,
            strides,
        })
    }
}

/// A kernel's uniform block: fresh bytes (shapes, fixed for the dispatch's life) or a buffer
/// the caller owns and rewrites (per-step hyper-parameters such as the learning rate).
pub(crate) enum Params<'a> {
    Bytes(&'a [u8]),
    Buffer(&'a wgpu::Buffer),
}

/// Build a [`Dispatch`], turning wgpu validation errors into [`Error::Gpu`].
pub(crate) fn build(gpu: &Gpu, launch: Launch<'_>) -> Result<Dispatch> {
    let sampled = launch
        .bindings
        .iter()
        .any(|b| matches!(b, Bind::Sampler(_)));
    let pipeline = gpu.pipeline(
        launch.label,
        launch.source,
        launch.entry,
        launch.constants,
        |device| sampled.then(|| sampling_layout(device, launch.bindings)),
    )?;
    let context = format!("binding {}::{}", launch.label, launch.entry);
    gpu.checked(&context, || {
        let owned;
        let params = match (launch.params, launch.replicas) {
            (Params::Buffer(b), None) => b,
            (Params::Bytes(bytes), None) => {
                owned = uniform(gpu, launch.label, bytes);
                &owned
            }
            (Params::Bytes(bytes), Some(r)) => {
                let mut data = bytes.to_vec();
                data.resize(bytes.len().next_multiple_of(16), 0);
                data.extend_from_slice(bytemuck::cast_slice(&r.strides));
                owned = uniform(gpu, launch.label, &data);
                &owned
            }
            (Params::Buffer(_), Some(_)) => unreachable!("layer kernels own their uniforms"),
        };
        let mut groups = launch.groups;
        if let Some(r) = launch.replicas {
            groups[2] *= r.count;
        }
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: params.as_entire_binding(),
        }];
        for (i, b) in launch.bindings.iter().enumerate() {
            let resource = match b {
                Bind::Buf(b) => b.as_entire_binding(),
                Bind::Tex(t) => wgpu::BindingResource::TextureView(t),
                Bind::Sampler(s) => wgpu::BindingResource::Sampler(s),
            };
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource,
            });
        }
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(launch.label),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        Dispatch {
            steps: vec![Step::Compute {
                pipeline: pipeline.clone(),
                bind_group,
                groups,
            }],
        }
    })
}

/// The layout of a launch that samples its textures. A derived layout would declare a sampled
/// float texture filterable, which rgba32float is not without an optional feature; here the
/// textures are unfilterable 2-D arrays, the sampler non-filtering (nearest) and every buffer
/// read-write storage, as the sampling kernels declare them.
fn sampling_layout(device: &wgpu::Device, bindings: &[Bind<'_>]) -> wgpu::PipelineLayout {
    let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty,
        count: None,
    };
    let buffer = |ty| wgpu::BindingType::Buffer {
        ty,
        has_dynamic_offset: false,
        min_binding_size: None,
    };
    let mut entries = vec![entry(0, buffer(wgpu::BufferBindingType::Uniform))];
    for (i, b) in bindings.iter().enumerate() {
        let ty = match b {
            Bind::Buf(_) => buffer(wgpu::BufferBindingType::Storage { read_only: false }),
            Bind::Tex(_) => wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: false },
                view_dimension: wgpu::TextureViewDimension::D2Array,
                multisampled: false,
            },
            Bind::Sampler(_) => wgpu::BindingType::Sampler(wgpu::SamplerBindingType::NonFiltering),
        };
        entries.push(entry(i as u32 + 1, ty));
    }
    let group = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("sampling kernel"),
        entries: &entries,
    });
    device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("sampling kernel"),
        bind_group_layouts: &[Some(&group)],
        immediate_size: 0,
    })
}

/// A uniform buffer holding `bytes`, padded to WGSL's 16-byte uniform granularity.
pub(crate) fn uniform(gpu: &Gpu, label: &str, bytes: &[u8]) -> wgpu::Buffer {
    let mut data = bytes.to_vec();
    data.resize(bytes.len().div_ceil(16).max(1) * 16, 0);
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &data,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
}

/// When every vector's buffer holds whole rows of 256 floats (see `Gpu::zeros_rows`), copies
/// of them into 64-texel-wide rgba32float textures (vec4 e at texel (e % 64, e / 64)) and the
/// textures' views, one per vector (a buffer named twice is copied once); else `None`, and the
/// kernel reads the buffers directly.
pub(crate) fn texture_copies(
    gpu: &Gpu,
    n: u32,
    vectors: &[View<'_>],
) -> Result<Option<(Dispatch, Vec<wgpu::TextureView>)>> {
    let (rows, row_bytes) = (n.div_ceil(256), 1024u64);
    let whole_rows = vectors
        .iter()
        .all(|v| v.buf.buffer.size() >= rows as u64 * row_bytes);
    if !whole_rows || rows > gpu.limits.max_texture_dimension_2d {
        return Ok(None);
    }
    let size = wgpu::Extent3d {
        width: 64,
        height: rows,
        depth_or_array_layers: 1,
    };
    let mut copies = Dispatch::empty();
    let mut views: Vec<wgpu::TextureView> = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        if let Some(j) = vectors[..i]
            .iter()
            .position(|u| u.buf.buffer == v.buf.buffer)
        {
            views.push(views[j].clone());
            continue;
        }
        let tex = gpu.checked("creating an operand texture", || {
            gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("vector as texture"),
                size,
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba32Float,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        })?;
        copies = copies.then(Dispatch::copy_to_texture(
            &v.buf.buffer,
            0,
            row_bytes as u32,
            (&tex, 0),
            size,
        ));
        views.push(tex.create_view(&Default::default()));
    }
    Ok(Some((copies, views)))
}

/// Workgroup counts for `groups` workgroups along one axis, folded into a second axis past the
/// per-dimension limit. Shaders rebuild the linear index as `wid.x + wid.y * nwg.x` and return
/// when it is past the end.
pub(crate) fn grid_1d(gpu: &Gpu, groups: u32) -> [u32; 3] {
    let max = gpu.limits.max_compute_workgroups_per_dimension.max(1);
    if groups <= max {
        [groups.max(1), 1, 1]
    } else {
        [max, groups.div_ceil(max), 1]
    }
}

/// Elements must be addressable with the shaders' u32 indices.
pub(crate) fn as_u32(op: &'static str, what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::shape(op, format!("{what} = {v} exceeds 2^32 - 1")))
}
