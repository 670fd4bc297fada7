//! Staging a matmul operand for the register variants: the logical matrix, wherever and however
//! it is stored, copied into a zero-padded rgba32float texture array (`matmul_pack.wgsl`, or a
//! plain buffer-to-texture copy when its rows are 256-byte aligned), which `matmul_reg.wgsl`
//! reads through texture samples.

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build};
use super::super::layout::{UniformLayout, uniform_layout};
use super::super::textures;
use super::shape::workgroups;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const PACK_SRC: &str = crate::wgsl!("kernels/matmul/matmul_pack.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PackParams {
    rows: u32,
    cols: u32,
    off: u32,
    transposed: u32,
    rows_per_layer: u32,
    padded_rows: u32,
    texels: u32,
    ld: u32,
}

/// The pack kernel's uniform layout, for the layout test.
pub(super) fn uniform_layout() -> UniformLayout {
    uniform_layout!(
        "matmul_pack",
        PACK_SRC,
        "Params",
        PackParams {
            rows,
            cols,
            off,
            transposed,
            rows_per_layer,
            padded_rows,
            texels,
            ld,
        }
    )
    .replicated()
}

/// A packed operand: `rows` (padded) rows of `texels` rgba32float texels, split into layers
/// of `rows_per_layer` rows when taller than the device's 2-D texture limit; replica r
/// occupies layers `r * layers ..`.
pub(super) struct Packed {
    pub view: wgpu::TextureView,
    pub rows_per_layer: u32,
    pub layers: u32,
    pub dispatch: Dispatch,
}

/// Where a logical matrix lies in a buffer: X[r, c] at `offset + r*ld + c`, or at
/// `offset + c*ld + r` when `transposed`; replica r of it `r * stride` elements further.
#[derive(Clone, Copy)]
pub(super) struct Stored {
    pub offset: usize,
    pub ld: usize,
    pub transposed: bool,
    pub replicas: usize,
    pub stride: usize,
}

/// The layout of a staged operand: `texels` per row, `rows_per_layer` rows per array
/// layer, `layers` layers per replica.
#[derive(Clone, Copy)]
struct Staging {
    texels: usize,
    rows_per_layer: usize,
    layers: usize,
}

/// Stage the logical `rows`×`cols` matrix stored in `src` as `at` says as a zero-padded
/// texture with `padded_rows` rows.
pub(super) fn pack(
    gpu: &Gpu,
    what: &str,
    src: &crate::gpu::GpuBuf<f32>,
    (rows, cols, padded_rows): (usize, usize, usize),
    at: Stored,
) -> Result<Packed> {
    const OP: &str = "matmul";
    let texels = cols.div_ceil(4);
    let limit = gpu.limits.max_texture_dimension_2d as usize;
    let (layers, rows_per_layer) = textures::operand_layers(gpu, padded_rows);
    let max_layers = gpu.limits.max_texture_array_layers as usize;
    if texels > limit || layers * at.replicas > max_layers {
        return Err(Error::shape(
            OP,
            format!(
                "{what} ({rows}×{cols}) is too large to stage as a texture on this device \
                 (at most {} columns and {} rows); use SAMPA_MATMUL=tiled",
                4 * limit,
                limit * max_layers
            ),
        ));
    }
    let staging = Staging {
        texels,
        rows_per_layer,
        layers,
    };
    let texture = staging_texture(gpu, what, staging, at.replicas)?;
    let view = texture.create_view(&wgpu::TextureViewDescriptor {
        dimension: Some(wgpu::TextureViewDimension::D2Array),
        ..Default::default()
    });
    // A row-major source whose rows are whole copy rows (256-byte multiples) and need no
    // padding is staged by a plain buffer-to-texture copy, which is a memcpy on CPU drivers.
    let row_bytes = 4 * cols as u64;
    let offset_bytes = |r: usize| 4 * (at.offset + r * at.stride) as u64;
    let copyable = !at.transposed
        && at.ld == cols
        && row_bytes.is_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as u64)
        && (0..at.replicas).all(|r| offset_bytes(r).is_multiple_of(16))
        && padded_rows == rows
        && rows == layers * rows_per_layer;
    let dispatch = if copyable {
        let size = wgpu::Extent3d {
            width: texels as u32,
            height: rows_per_layer as u32,
            depth_or_array_layers: layers as u32,
        };
        (0..at.replicas).fold(Dispatch::empty(), |d, r| {
            let layer = (&texture, (r * layers) as u32);
            let copy = Dispatch::copy_to_texture(
                &src.buffer,
                offset_bytes(r),
                row_bytes as u32,
                layer,
                size,
            );
            d.then(copy)
        })
    } else {
        pack_kernel(gpu, (src, &view), (rows, cols, padded_rows), at, staging)?
    };
    Ok(Packed {
        view,
        rows_per_layer: rows_per_layer as u32,
        layers: layers as u32,
        dispatch,
    })
}

/// The zero-initialised rgba32float texture array an operand is staged in. Its width and
/// height are the staging's rounded up to powers of two (see [`textures::power_of_two`]);
/// the kernels never read the extra texels and rows.
fn staging_texture(gpu: &Gpu, what: &str, s: Staging, replicas: usize) -> Result<wgpu::Texture> {
    let limit = gpu.limits.max_texture_dimension_2d as usize;
    let width = textures::power_of_two(s.texels, limit);
    let height = textures::power_of_two(s.rows_per_layer, limit);
    let usage = wgpu::TextureUsages::STORAGE_BINDING
        | wgpu::TextureUsages::TEXTURE_BINDING
        | wgpu::TextureUsages::COPY_DST;
    textures::texture_array(gpu, what, (width, height, s.layers * replicas), usage)
}

/// The pack kernel staging `src` into `view` (transposing, padding, any leading dimension).
fn pack_kernel(
    gpu: &Gpu,
    (src, view): (&crate::gpu::GpuBuf<f32>, &wgpu::TextureView),
    (rows, cols, padded_rows): (usize, usize, usize),
    at: Stored,
    s: Staging,
) -> Result<Dispatch> {
    const OP: &str = "matmul";
    let params = PackParams {
        rows: as_u32(OP, "rows", rows)?,
        cols: as_u32(OP, "cols", cols)?,
        off: as_u32(OP, "offset", at.offset)?,
        transposed: at.transposed as u32,
        rows_per_layer: s.rows_per_layer as u32,
        padded_rows: as_u32(OP, "rows", padded_rows)?,
        texels: s.texels as u32,
        ld: as_u32(OP, "leading dimension", at.ld)?,
    };
    let vec4_rows = !at.transposed
        && cols.is_multiple_of(4)
        && at.ld.is_multiple_of(4)
        && at.offset.is_multiple_of(4)
        && at.stride.is_multiple_of(4);
    let [x, y, _] = workgroups(
        gpu,
        OP,
        s.texels.div_ceil(16),
        s.rows_per_layer.div_ceil(16),
    )?;
    build(
        gpu,
        Launch {
            label: "matmul_pack",
            source: PACK_SRC,
            entry: if vec4_rows { "pack_rows" } else { "pack" },
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(Replicas {
                count: as_u32(OP, "replicas", at.replicas)?,
                strides: [
                    as_u32(OP, "replica stride", at.stride)?,
                    s.layers as u32,
                    0,
                    0,
                ],
            }),
            bindings: &[Bind::Buf(&src.buffer), Bind::Tex(view)],
            groups: [x, y, s.layers as u32],
        },
    )
}
