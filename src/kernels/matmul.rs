//! Matrix multiply in the three forms training needs: `A·B`, `Aᵀ·B` and `A·Bᵀ`
//! (`shaders/matmul_reg.wgsl`, `shaders/matmul_tiled.wgsl`).
//!
//! Two variants compute the same sums in the same order: a register-blocked one for CPU
//! rasterisers and a workgroup-tiled one for GPUs. Which one a device uses is decided by
//! measurement (see [`crate::tuning`]) and can be forced with `SAMPA_MATMUL=reg|tiled`.

use super::{Dispatch, Launch, Params, View, as_u32, build};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const REG_SRC: &str = include_str!("../../shaders/matmul_reg.wgsl");
const TILED_SRC: &str = include_str!("../../shaders/matmul_tiled.wgsl");

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
    if std::ptr::eq(c.buf, a.buf) || std::ptr::eq(c.buf, b.buf) {
        return Err(Error::shape(OP, "C must not share a buffer with A or B"));
    }
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
    let (ta, tb) = form.transposes();
    let constants = [("TRANS_A", ta as u8 as f64), ("TRANS_B", tb as u8 as f64)];
    let (label, source, block) = match variant {
        Variant::Register => ("matmul_reg", REG_SRC, 32),
        Variant::Tiled => ("matmul_tiled", TILED_SRC, 64),
    };
    let groups = [
        as_u32(OP, "column blocks", n.div_ceil(block))?,
        as_u32(OP, "row blocks", m.div_ceil(block))?,
        1,
    ];
    let max = gpu.limits.max_compute_workgroups_per_dimension;
    if groups[0] > max || groups[1] > max {
        return Err(Error::shape(
            OP,
            format!("{dims:?} needs {groups:?} workgroups; this device allows {max} per axis"),
        ));
    }
    build(
        gpu,
        Launch {
            label,
            source,
            entry: "main",
            constants: &constants,
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            buffers: &[&a.buf.buffer, &b.buf.buffer, &c.buf.buffer],
            groups,
        },
    )
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
