//! The register variant: op(A) and op(B) staged as zero-padded rgba32f texture arrays
//! (`matmul_pack.wgsl`, or a plain buffer-to-texture copy when rows are 256-byte aligned),
//! then a 16×8 block of C per invocation from texture samples (`matmul_reg.wgsl`); the `reg8`
//! form takes 8×8 blocks, by the shader's `ROWS` constant.

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build};
use super::super::layout::{UniformLayout, uniform_layout};
use super::super::textures;
use super::super::view::View;
use super::epilogue::{EpilogueParams, Prepared};
use super::shape::{Dims, StagedA, workgroups};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const REG_SRC: &str = crate::wgsl!("kernels/matmul/matmul_reg.wgsl");
const PACK_SRC: &str = crate::wgsl!("kernels/matmul/matmul_pack.wgsl");
/// Invocations per workgroup of the multiply, along C's rows and columns (8×8), and columns of
/// C per invocation; rows per invocation are the form's `ROWS` (16 or 8).
const REG_GROUP: (usize, usize) = (8, 8);
const REG_COLS: usize = 8;

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

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TexturedParams {
    m: u32,
    n: u32,
    k4: u32,
    off_c: u32,
    accumulate: u32,
    layer_rows_a: u32,
    layer_rows_b: u32,
    n4: u32,
    epilogue: EpilogueParams,
}

/// The uniform layouts of the pack and multiply kernels, for the layout test.
pub(super) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![
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
        .replicated(),
        uniform_layout!(
            "matmul_reg",
            REG_SRC,
            "Params",
            TexturedParams {
                m,
                n,
                k4,
                off_c,
                accumulate,
                layer_rows_a,
                layer_rows_b,
                n4,
                epilogue,
            }
        )
        .with_epilogue(&super::epilogue::FIELDS)
        .replicated(),
    ]
}

/// A packed operand: `rows` (padded) rows of `texels` rgba32float texels, split into layers
/// of `rows_per_layer` rows when taller than the device's 2-D texture limit; replica r
/// occupies layers `r * layers ..`.
struct Packed {
    view: wgpu::TextureView,
    rows_per_layer: u32,
    layers: u32,
    dispatch: Dispatch,
}

/// Where a logical matrix lies in a buffer: X[r, c] at `offset + r*ld + c`, or at
/// `offset + c*ld + r` when `transposed`; replica r of it `r * stride` elements further.
#[derive(Clone, Copy)]
struct Stored {
    offset: usize,
    ld: usize,
    transposed: bool,
    replicas: usize,
    stride: usize,
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
fn pack(
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
    let layers = textures::array_layers(width, height, s.layers * replicas);
    gpu.checked("creating a matmul staging texture", || {
        gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(what),
            size: wgpu::Extent3d {
                width: width as u32,
                height: height as u32,
                depth_or_array_layers: layers as u32,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::STORAGE_BINDING
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        })
    })
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

/// The product, and op(A) as it is staged when the product takes one chunk of k (see
/// [`StagedA`]).
pub(super) fn prepare(
    gpu: &Gpu,
    dims: Dims,
    (ta, tb): (bool, bool),
    (a, b, c): (View<'_>, View<'_>, View<'_>),
    (rows, accumulate): (usize, bool),
    epilogue: &Prepared,
) -> Result<(Dispatch, Option<StagedA>)> {
    let Dims { m, n, k } = dims;
    // A staged operand holds k/4 texels per row of A, at most the texture width: longer sums
    // (a convolution's weight gradient sums over every pixel of the batch) run as chunks of
    // k that accumulate into C.
    let chunk = 4 * gpu.limits.max_texture_dimension_2d as usize;
    let mut steps: Option<Dispatch> = None;
    let mut staged = None;
    for k0 in (0..k).step_by(chunk) {
        let kc = chunk.min(k - k0);
        // op(A)[:, k0..] and op(B)[k0.., :] in their stored layouts.
        let stored = |v: &View<'_>, offset, ld, transposed| Stored {
            offset: v.offset + offset,
            ld,
            transposed,
            replicas: v.replicas,
            stride: v.stride,
        };
        let at = if ta {
            stored(&a, k0 * m, m, true)
        } else {
            stored(&a, k0, k, false)
        };
        let bt = if tb {
            stored(&b, k0, k, true)
        } else {
            stored(&b, k0 * n, n, false)
        };
        // The epilogue runs once, on the last chunk's complete sums.
        let last = k0 + kc == k;
        let none = Prepared::none(epilogue);
        let (part, a_staged) = multiply_chunk(
            gpu,
            (m, n, kc),
            (a.buf, at),
            (b.buf, bt),
            c,
            (rows, accumulate || k0 > 0),
            if last { epilogue } else { &none },
        )?;
        staged = (k0 == 0 && last).then_some(a_staged);
        steps = Some(match steps {
            None => part,
            Some(s) => s.then(part),
        });
    }
    Ok((steps.expect("k > 0"), staged))
}

type Operand<'a> = (&'a crate::gpu::GpuBuf<f32>, Stored);

fn multiply_chunk(
    gpu: &Gpu,
    (m, n, k): (usize, usize, usize),
    (a, at): Operand<'_>,
    (b, bt): Operand<'_>,
    c: View<'_>,
    (rows, accumulate): (usize, bool),
    epilogue: &Prepared,
) -> Result<(Dispatch, StagedA)> {
    const OP: &str = "matmul";
    let k4 = k.div_ceil(4);
    let pa = pack(gpu, "matmul A", a, (m, k, m), at)?;
    let pb = pack(gpu, "matmul B", b, (k, n, 4 * k4), bt)?;
    let params = TexturedParams {
        m: as_u32(OP, "m", m)?,
        n: as_u32(OP, "n", n)?,
        k4: as_u32(OP, "k", k4)?,
        off_c: as_u32(OP, "C offset", c.offset)?,
        accumulate: accumulate as u32,
        layer_rows_a: pa.rows_per_layer,
        layer_rows_b: pb.rows_per_layer,
        n4: as_u32(OP, "n", n.div_ceil(4))?,
        epilogue: epilogue.params,
    };
    let (block_rows, block_cols) = (REG_GROUP.0 * rows, REG_GROUP.1 * REG_COLS);
    // Fewer than 8 column pairs: row blocks along x instead (ROWS_X in matmul_reg.wgsl).
    let rows_x = n.div_ceil(REG_COLS) < 8;
    let (col_groups, row_groups) = (n.div_ceil(block_cols), m.div_ceil(block_rows));
    let groups = if rows_x {
        workgroups(gpu, OP, row_groups, col_groups)?
    } else {
        workgroups(gpu, OP, col_groups, row_groups)?
    };
    let multiply = build(
        gpu,
        Launch {
            label: "matmul_reg",
            source: REG_SRC,
            entry: "main",
            constants: &[("ROWS", rows as f64), ("ROWS_X", rows_x as u8 as f64)],
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(Replicas {
                count: as_u32(OP, "replicas", c.replicas)?,
                strides: [
                    pa.layers,
                    pb.layers,
                    as_u32(OP, "replica stride", c.stride)?,
                    0,
                ],
            }),
            bindings: &[
                Bind::Tex(&pa.view),
                Bind::Tex(&pb.view),
                Bind::Buf(&c.buf.buffer),
                Bind::Sampler(&textures::nearest_sampler(gpu)),
                Bind::Buf(&epilogue.bias),
                Bind::Buf(&epilogue.mask),
            ],
            groups,
        },
    )?;
    let staged = StagedA {
        rows: m,
        cols: k,
        view: pa.view.clone(),
        rows_per_layer: pa.rows_per_layer as usize,
        layers: pa.layers as usize,
    };
    Ok((pa.dispatch.then(pb.dispatch).then(multiply), staged))
}
