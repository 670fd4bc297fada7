//! Building a [`Dispatch`] from a shader entry point: the uniform block, the bindings, the
//! pipeline (from the device's cache) and the grid. Every kernel wrapper goes through
//! [`build`], so wgpu validation errors become [`crate::Error::Gpu`] in one place.

use super::dispatch::Dispatch;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use wgpu::util::DeviceExt;

/// One binding of a launch after the uniform block. A shader file gives every binding number
/// one meaning and one type, so an entry point that does not use a number skips it.
pub(crate) enum Bind<'a> {
    /// A number this entry point does not use.
    Unused,
    Buf(&'a wgpu::Buffer),
    Tex(&'a wgpu::TextureView),
    /// A nearest-filtering sampler over the launch's textures.
    Sampler(&'a wgpu::Sampler),
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
                Bind::Unused => continue,
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
        Dispatch::compute(pipeline.clone(), bind_group, groups)
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
            Bind::Unused => continue,
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
