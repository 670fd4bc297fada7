//! Texture copies of flat vectors, for the kernels' texture-read forms: on CPU rasterisers a
//! storage-buffer load is a loop over the SIMD lanes, while a texture fetch is one gather.

use super::dispatch::Dispatch;
use super::view::View;
use crate::error::Result;
use crate::gpu::Gpu;

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
