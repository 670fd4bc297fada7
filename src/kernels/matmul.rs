//! Matrix multiply in the three forms training needs: `A·B`, `Aᵀ·B` and `A·Bᵀ`
//! (`shaders/matmul_reg.wgsl`, `shaders/matmul_tiled.wgsl`).
//!
//! Two variants compute the same sums in the same order: a register-blocked one that reads its
//! operands through textures (for CPU rasterisers, where texture fetches are the only vectorised
//! loads; `shaders/matmul_pack.wgsl` stages the operands) and a workgroup-tiled one that reads
//! storage buffers (for GPUs). Which one a device uses is decided by measurement (see
//! [`crate::tuning`]) and can be forced with `SAMPA_MATMUL=reg|tiled`.

use super::{Bind, Dispatch, Launch, Params, Replicas, View, as_u32, build};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const REG_SRC: &str = include_str!("../../shaders/matmul_reg.wgsl");
const PACK_SRC: &str = include_str!("../../shaders/matmul_pack.wgsl");
const TILED_SRC: &str = include_str!("../../shaders/matmul_tiled.wgsl");
/// Rows and columns of C one workgroup of the register variant covers (8×8 invocations, each
/// 16 rows × 8 columns).
const REG_BLOCK: (usize, usize) = (128, 64);

/// The environment variable that forces a variant.
pub const VARIANT_ENV: &str = "SAMPA_MATMUL";

/// Which kernel computes the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// 4×4 register block per invocation, no workgroup memory.
    Register,
    /// 64×64 workgroup tiles staged in workgroup memory.
    Tiled,
}

impl Variant {
    /// Both variants, for measurement.
    pub const ALL: [Variant; 2] = [Variant::Register, Variant::Tiled];

    /// The short name used in flags, files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Register => "reg",
            Variant::Tiled => "tiled",
        }
    }

    /// Parse [`Variant::name`].
    pub fn parse(s: &str) -> Result<Variant> {
        match s.trim().to_ascii_lowercase().as_str() {
            "reg" | "register" => Ok(Variant::Register),
            "tiled" | "tile" => Ok(Variant::Tiled),
            other => Err(Error::Invalid(format!(
                "unknown matmul variant {other:?}: expected `reg` or `tiled`"
            ))),
        }
    }
}

/// Which operands are transposed: C = op(A)·op(B).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// C = A·B: A stored M×K, B stored K×N.
    AB,
    /// C = Aᵀ·B: A stored K×M, B stored K×N (weight gradients).
    AtB,
    /// C = A·Bᵀ: A stored M×K, B stored N×K (linear forward with `[out, in]` weights).
    ABt,
}

impl Form {
    /// All three forms.
    pub const ALL: [Form; 3] = [Form::AB, Form::AtB, Form::ABt];

    fn transposes(self) -> (bool, bool) {
        match self {
            Form::AB => (false, false),
            Form::AtB => (true, false),
            Form::ABt => (false, true),
        }
    }
}

/// The product's dimensions: op(A) is m×k, op(B) is k×n.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// The summed dimension.
    pub k: usize,
}

impl Dims {
    /// Floating-point operations of one product (2·m·n·k).
    pub fn flops(self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    off_a: u32,
    off_b: u32,
    off_c: u32,
    accumulate: u32,
    _pad: u32,
}

impl Gpu {
    /// The matmul variant this device uses: forced by `SAMPA_MATMUL`, else measured once
    /// (and cached on disk natively), else tiled in the browser.
    pub fn matmul_variant(&self) -> Result<Variant> {
        if let Some(v) = *self.matmul_variant.lock().expect("variant lock") {
            return Ok(v);
        }
        let chosen = match std::env::var(VARIANT_ENV) {
            Ok(s) => {
                Variant::parse(&s).map_err(|e| Error::Invalid(format!("{VARIANT_ENV}: {e}")))?
            }
            #[cfg(not(target_arch = "wasm32"))]
            Err(_) => crate::tuning::matmul_variant(self)?,
            #[cfg(target_arch = "wasm32")]
            Err(_) => Variant::Tiled,
        };
        self.set_matmul_variant(chosen);
        Ok(chosen)
    }

    /// Force the matmul variant for every later prepared product on this device.
    pub fn set_matmul_variant(&self, v: Variant) {
        *self.matmul_variant.lock().expect("variant lock") = Some(v);
    }
}

/// Prepare C = op(A)·op(B) (or C += with `accumulate`) with the device's chosen variant.
pub fn prepare(
    gpu: &Gpu,
    form: Form,
    dims: Dims,
    a: View<'_>,
    b: View<'_>,
    c: View<'_>,
    accumulate: bool,
) -> Result<Dispatch> {
    let variant = gpu.matmul_variant()?;
    prepare_variant(gpu, variant, form, dims, a, b, c, accumulate)
}

/// Prepare a product with an explicit variant (benchmarks and tuning).
#[allow(clippy::too_many_arguments)]
pub fn prepare_variant(
    gpu: &Gpu,
    variant: Variant,
    form: Form,
    dims: Dims,
    a: View<'_>,
    b: View<'_>,
    c: View<'_>,
    accumulate: bool,
) -> Result<Dispatch> {
    const OP: &str = "matmul";
    let Dims { m, n, k } = dims;
    if m == 0 || n == 0 || k == 0 {
        return Err(Error::shape(
            OP,
            format!("dimensions must be positive, got {dims:?}"),
        ));
    }
    a.expect_len(OP, &format!("A ({m}×{k} for {form:?})"), m * k)?;
    b.expect_len(OP, &format!("B ({k}×{n} for {form:?})"), k * n)?;
    c.expect_len(OP, &format!("C ({m}×{n})"), m * n)?;
    if c.buf.buffer == a.buf.buffer || c.buf.buffer == b.buf.buffer {
        return Err(Error::shape(OP, "C must not share a buffer with A or B"));
    }
    let replicas = Replicas::of(OP, &[a.rep(), b.rep(), c.rep()])?;
    let (ta, tb) = form.transposes();
    match variant {
        Variant::Tiled => prepare_tiled(gpu, dims, (ta, tb), (a, b, c), replicas, accumulate),
        Variant::Register => prepare_textured(gpu, dims, (ta, tb), a, b, c, accumulate),
    }
}

fn workgroups(gpu: &Gpu, op: &'static str, cols: usize, rows: usize) -> Result<[u32; 3]> {
    let groups = [
        as_u32(op, "column blocks", cols)?,
        as_u32(op, "row blocks", rows)?,
        1,
    ];
    let max = gpu.limits.max_compute_workgroups_per_dimension;
    if groups[0] > max || groups[1] > max {
        return Err(Error::shape(
            op,
            format!("needs {groups:?} workgroups; this device allows {max} per axis"),
        ));
    }
    Ok(groups)
}

fn prepare_tiled(
    gpu: &Gpu,
    dims: Dims,
    (ta, tb): (bool, bool),
    (a, b, c): (View<'_>, View<'_>, View<'_>),
    replicas: Replicas,
    accumulate: bool,
) -> Result<Dispatch> {
    const OP: &str = "matmul";
    let Dims { m, n, k } = dims;
    let params = MatmulParams {
        m: as_u32(OP, "m", m)?,
        n: as_u32(OP, "n", n)?,
        k: as_u32(OP, "k", k)?,
        off_a: as_u32(OP, "A offset", a.offset)?,
        off_b: as_u32(OP, "B offset", b.offset)?,
        off_c: as_u32(OP, "C offset", c.offset)?,
        accumulate: accumulate as u32,
        _pad: 0,
    };
    let constants = [("TRANS_A", ta as u8 as f64), ("TRANS_B", tb as u8 as f64)];
    build(
        gpu,
        Launch {
            label: "matmul_tiled",
            source: TILED_SRC,
            entry: "main",
            constants: &constants,
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(replicas),
            bindings: &[
                Bind::Buf(&a.buf.buffer),
                Bind::Buf(&b.buf.buffer),
                Bind::Buf(&c.buf.buffer),
            ],
            groups: workgroups(gpu, OP, n.div_ceil(64), m.div_ceil(64))?,
        },
    )
}

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

/// Stage the logical `rows`×`cols` matrix stored in `src` as `at` says as a zero-padded
/// texture with `padded_rows` rows.
fn pack(
    gpu: &Gpu,
    what: &str,
    src: &crate::gpu::GpuBuf<f32>,
    (rows, cols, padded_rows): (usize, usize, usize),
    at: Stored,
) -> Result<Packed> {
    let transposed = at.transposed;
    const OP: &str = "matmul";
    let texels = cols.div_ceil(4);
    let limit = gpu.limits.max_texture_dimension_2d as usize;
    // At least two layers: wgpu's GL backend makes a one-layer texture a plain 2-D texture,
    // which an array view cannot read (wgpu issues 1574, 1614). Rows per layer are a multiple
    // of 4, so the four k rows one step of the multiply reads share a layer.
    let layers = padded_rows.div_ceil(limit / 4 * 4).max(2);
    let rows_per_layer = padded_rows.div_ceil(layers).div_ceil(4) * 4;
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
    let texture = gpu.checked("creating a matmul staging texture", || {
        gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(what),
            size: wgpu::Extent3d {
                width: texels as u32,
                height: rows_per_layer as u32,
                depth_or_array_layers: (layers * at.replicas) as u32,
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
    })?;
    let view = texture.create_view(&wgpu::TextureViewDescriptor {
        dimension: Some(wgpu::TextureViewDimension::D2Array),
        ..Default::default()
    });
    // A row-major source whose rows are whole copy rows (256-byte multiples) and need no
    // padding is staged by a plain buffer-to-texture copy, which is a memcpy on CPU drivers.
    let row_bytes = 4 * cols as u64;
    let offset_bytes = |r: usize| 4 * (at.offset + r * at.stride) as u64;
    if !transposed
        && at.ld == cols
        && row_bytes.is_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as u64)
        && (0..at.replicas).all(|r| offset_bytes(r).is_multiple_of(16))
        && padded_rows == rows
        && rows == layers * rows_per_layer
    {
        let size = wgpu::Extent3d {
            width: texels as u32,
            height: rows_per_layer as u32,
            depth_or_array_layers: layers as u32,
        };
        let mut dispatch = Dispatch::empty();
        for r in 0..at.replicas {
            dispatch = dispatch.then(Dispatch::copy_to_texture(
                &src.buffer,
                offset_bytes(r),
                row_bytes as u32,
                (&texture, (r * layers) as u32),
                size,
            ));
        }
        return Ok(Packed {
            view,
            rows_per_layer: rows_per_layer as u32,
            layers: layers as u32,
            dispatch,
        });
    }
    let params = PackParams {
        rows: as_u32(OP, "rows", rows)?,
        cols: as_u32(OP, "cols", cols)?,
        off: as_u32(OP, "offset", at.offset)?,
        transposed: transposed as u32,
        rows_per_layer: rows_per_layer as u32,
        padded_rows: as_u32(OP, "rows", padded_rows)?,
        texels: texels as u32,
        ld: as_u32(OP, "leading dimension", at.ld)?,
    };
    let dispatch = build(
        gpu,
        Launch {
            label: "matmul_pack",
            source: PACK_SRC,
            entry: if !transposed
                && cols.is_multiple_of(4)
                && at.ld.is_multiple_of(4)
                && at.offset.is_multiple_of(4)
                && at.stride.is_multiple_of(4)
            {
                "pack_rows"
            } else {
                "pack"
            },
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(Replicas {
                count: as_u32(OP, "replicas", at.replicas)?,
                strides: [
                    as_u32(OP, "replica stride", at.stride)?,
                    layers as u32,
                    0,
                    0,
                ],
            }),
            bindings: &[Bind::Buf(&src.buffer), Bind::Tex(&view)],
            groups: {
                let [x, y, _] =
                    workgroups(gpu, OP, texels.div_ceil(16), rows_per_layer.div_ceil(16))?;
                [x, y, layers as u32]
            },
        },
    )?;
    Ok(Packed {
        view,
        rows_per_layer: rows_per_layer as u32,
        layers: layers as u32,
        dispatch,
    })
}

fn prepare_textured(
    gpu: &Gpu,
    dims: Dims,
    (ta, tb): (bool, bool),
    a: View<'_>,
    b: View<'_>,
    c: View<'_>,
    accumulate: bool,
) -> Result<Dispatch> {
    let Dims { m, n, k } = dims;
    // A staged operand holds k/4 texels per row of A, at most the texture width: longer sums
    // (a convolution's weight gradient sums over every pixel of the batch) run as chunks of
    // k that accumulate into C.
    let chunk = 4 * gpu.limits.max_texture_dimension_2d as usize;
    let mut steps: Option<Dispatch> = None;
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
        let part = multiply_chunk(
            gpu,
            (m, n, kc),
            (a.buf, at),
            (b.buf, bt),
            c,
            accumulate || k0 > 0,
        )?;
        steps = Some(match steps {
            None => part,
            Some(s) => s.then(part),
        });
    }
    Ok(steps.expect("k > 0"))
}

type Operand<'a> = (&'a crate::gpu::GpuBuf<f32>, Stored);

fn multiply_chunk(
    gpu: &Gpu,
    (m, n, k): (usize, usize, usize),
    (a, at): Operand<'_>,
    (b, bt): Operand<'_>,
    c: View<'_>,
    accumulate: bool,
) -> Result<Dispatch> {
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
    };
    let (block_rows, block_cols) = REG_BLOCK;
    let multiply = build(
        gpu,
        Launch {
            label: "matmul_reg",
            source: REG_SRC,
            entry: "main",
            constants: &[],
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
                Bind::Sampler(&gpu.device.create_sampler(&wgpu::SamplerDescriptor {
                    label: Some("matmul operands"),
                    ..Default::default()
                })),
            ],
            groups: workgroups(gpu, OP, n.div_ceil(block_cols), m.div_ceil(block_rows))?,
        },
    )?;
    Ok(pa.dispatch.then(pb.dispatch).then(multiply))
}

/// CPU f64 reference: op(A)·op(B) for operands stored as [`prepare`] expects.
pub fn reference(form: Form, dims: Dims, a: &[f32], b: &[f32]) -> Vec<f64> {
    let Dims { m, n, k } = dims;
    let (ta, tb) = form.transposes();
    let mut c = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for p in 0..k {
                let av = if ta { a[p * m + i] } else { a[i * k + p] };
                let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                s += av as f64 * bv as f64;
            }
            c[i * n + j] = s;
        }
    }
    c
}
