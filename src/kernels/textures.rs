//! Texture copies of flat vectors, for the kernels' texture-read forms: on CPU rasterisers a
//! storage-buffer load is a loop over the SIMD lanes, while a texture fetch is one gather.

use super::dispatch::Dispatch;
use super::view::View;
use crate::error::{Error, Result};
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
    // The kernels fetch texel (e % 64, e / 64) and never read the extra rows.
    let limit = gpu.limits.max_texture_dimension_2d as usize;
    let allocated = wgpu::Extent3d {
        height: power_of_two(rows as usize, limit) as u32,
        ..size
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
                size: allocated,
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

/// `size` rounded up to a power of two, or `size` itself when that would exceed `limit`.
///
/// Why: llvmpipe compiles a kernel once per combination of its textures' properties, and
/// whether each side is a power of two is one of them, so products of different shapes
/// cost a compilation each (about 2 s for the `reg` matmul on lavapipe). Allocating every
/// texture with power-of-two sides makes one compilation serve every shape, and llvmpipe
/// addresses such textures faster: the MLP step's products ran at 10.2 GFLOP/s on lavapipe
/// (`sampa bench matmul`, LP_NUM_THREADS=1, 2026-12-02), against 6.9 with textures of the
/// operands' own sizes and 5.6 with sides made never powers of two. The extra texels and rows, never
/// read, cost memory only: under 2× an operand's size.
pub(crate) fn power_of_two(size: usize, limit: usize) -> usize {
    let wider = size.max(1).next_power_of_two();
    if wider <= limit { wider } else { size }
}

/// The array layers to allocate for a texture array of `width`×`height` texels that needs
/// `layers`: one more where wgpu's GL backend would otherwise make it a cube map (a square
/// texture whose layers are a multiple of 6, which it guesses is one and then neither copies
/// into nor samples as an array; wgpu issues 1574, 1614). Kernels never read the extra layer.
pub(crate) fn array_layers(width: usize, height: usize, layers: usize) -> usize {
    if width == height && layers.is_multiple_of(6) {
        layers + 1
    } else {
        layers
    }
}

/// How a staged operand of `rows` rows splits into texture-array layers on `gpu`: `(layers,
/// rows_per_layer)`, rows per layer a multiple of 4 (so the four k rows a product step reads
/// share a layer) and at least two layers (wgpu's GL backend makes a one-layer texture a plain
/// 2-D texture, which an array view cannot read; wgpu issues 1574, 1614).
pub(crate) fn operand_layers(gpu: &Gpu, rows: usize) -> (usize, usize) {
    let limit = gpu.limits.max_texture_dimension_2d as usize;
    let layers = rows.div_ceil(limit / 4 * 4).max(2);
    (layers, rows.div_ceil(layers).div_ceil(4) * 4)
}

/// The nearest, non-filtering sampler the texture-read kernels sample their operands with (at
/// texel centres, which returns each texel unchanged; see matmul_reg.wgsl).
pub(crate) fn nearest_sampler(gpu: &Gpu) -> wgpu::Sampler {
    gpu.device.create_sampler(&wgpu::SamplerDescriptor {
        label: Some("texture operands"),
        ..Default::default()
    })
}

/// An rgba32float 2-D texture array of `width`×`height` texels and `layers` layers, checked
/// against the device's layer limit.
pub(crate) fn texture_array(
    gpu: &Gpu,
    label: &str,
    (width, height, layers): (usize, usize, usize),
    usage: wgpu::TextureUsages,
) -> Result<wgpu::Texture> {
    let layers = array_layers(width, height, layers);
    if layers > gpu.limits.max_texture_array_layers as usize {
        return Err(Error::shape(
            "texture",
            format!("{label}: {layers} texture layers exceed this device's limit"),
        ));
    }
    gpu.checked(&format!("creating a {label}"), || {
        gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width: width as u32,
                height: height as u32,
                depth_or_array_layers: layers as u32,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage,
            view_formats: &[],
        })
    })
}

#[cfg(test)]
mod tests {
    use crate::kernels::textures::power_of_two;

    #[test]
    fn sides_round_up_to_powers_of_two_within_the_limit() {
        let limit = 8192;
        for (size, want) in [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 4),
            (64, 64),
            (65, 128),
            (196, 256),
        ] {
            assert_eq!(power_of_two(size, limit), want, "size {size}");
        }
        for size in 1..=limit {
            let w = power_of_two(size, limit);
            assert!(
                w.is_power_of_two() && w >= size && w < 2 * size,
                "{size} -> {w}"
            );
        }
        // Past the limit the size stays as it is: a texture cannot be larger.
        assert_eq!(power_of_two(5000, 4096), 5000);
    }

    #[test]
    fn square_arrays_never_take_a_cube_maps_layer_count() {
        use crate::kernels::textures::array_layers;
        // 64×64 images of two replicas of 3 layers each: 6 square layers, a cube map to GL.
        assert_eq!(array_layers(64, 64, 6), 7);
        assert_eq!(array_layers(64, 64, 12), 13);
        assert_eq!(array_layers(64, 64, 4), 4);
        assert_eq!(array_layers(64, 128, 6), 6);
    }
}
