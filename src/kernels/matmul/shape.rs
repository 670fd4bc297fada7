//! The shapes of a product: which variant computes it, which operands are transposed, its
//! dimensions, and its workgroup grid.

use super::super::launch::as_u32;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// Which kernel computes the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Variant {
    /// 16×8 register block per invocation from texture samples, no workgroup memory.
    #[serde(rename = "reg")]
    Register,
    /// The same with an 8×8 block: somewhat slower, but CPU rasterisers compile it in under
    /// half the time (the browser's form on them, where the compile delays the first step).
    #[serde(rename = "reg8")]
    Register8,
    /// 64×64 workgroup tiles staged in workgroup memory.
    #[serde(rename = "tiled")]
    Tiled,
    /// An 8×4 register block per invocation whose A values travel between the lanes of a
    /// subgroup (`subgroupShuffle`) instead of through workgroup memory; only on devices with
    /// the `subgroups` feature.
    #[serde(rename = "subgroup")]
    Subgroup,
}

impl Variant {
    /// Every variant, for measurement.
    pub const ALL: [Variant; 4] = [
        Variant::Register,
        Variant::Register8,
        Variant::Tiled,
        Variant::Subgroup,
    ];

    /// Whether `gpu` can run this variant: the subgroup variant needs the device's
    /// `subgroups` feature (lavapipe's Vulkan adapter has it, wgpu's GL backend does not).
    pub fn runs_on(self, gpu: &Gpu) -> bool {
        self != Variant::Subgroup || gpu.device.features().contains(wgpu::Features::SUBGROUP)
    }

    /// An error naming the adapter and what to choose instead unless `gpu` can run this
    /// variant ([`Variant::runs_on`]).
    pub fn require(self, gpu: &Gpu) -> Result<()> {
        if self.runs_on(gpu) {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "{} has no `subgroups` feature, which the {} matmul needs (see `sampa devices`); \
             choose reg, reg8 or tiled for it",
            gpu.adapter.short(),
            self.name()
        )))
    }

    /// The variants `gpu` can run, in [`Variant::ALL`]'s order.
    pub fn on(gpu: &Gpu) -> Vec<Variant> {
        Variant::ALL
            .into_iter()
            .filter(|v| v.runs_on(gpu))
            .collect()
    }

    /// The short name used in flags, files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Register => "reg",
            Variant::Register8 => "reg8",
            Variant::Tiled => "tiled",
            Variant::Subgroup => "subgroup",
        }
    }

    /// Parse [`Variant::name`].
    pub fn parse(s: &str) -> Result<Variant> {
        match s.trim().to_ascii_lowercase().as_str() {
            "reg" | "register" => Ok(Variant::Register),
            "reg8" => Ok(Variant::Register8),
            "tiled" | "tile" => Ok(Variant::Tiled),
            "subgroup" | "sg" => Ok(Variant::Subgroup),
            other => Err(Error::Invalid(format!(
                "unknown matmul variant {other:?}: expected `reg`, `reg8`, `tiled` or `subgroup`"
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

    pub(crate) fn transposes(self) -> (bool, bool) {
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

pub(crate) fn workgroups(
    gpu: &Gpu,
    op: &'static str,
    cols: usize,
    rows: usize,
) -> Result<[u32; 3]> {
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

/// op(A) of a product as the register variants staged it, for kernels that read the same
/// values after the product (a linear layer's bias gradient sums the rows of its weight
/// gradient's op(A) = dyᵀ). Row i of op(A) is row i % `rows_per_layer` of array layer
/// i / `rows_per_layer`, replica r's rows from layer r · `layers` on; texel x of a row holds
/// op(A)[i, 4x .. 4x + 3], zero past k.
#[derive(Clone, Debug)]
pub struct StagedA {
    /// op(A)'s rows (the product's m).
    pub rows: usize,
    /// op(A)'s columns (the product's k).
    pub cols: usize,
    /// The texture array, bound as `texture_2d_array<f32>`.
    pub view: wgpu::TextureView,
    /// Rows per array layer.
    pub rows_per_layer: usize,
    /// Array layers per replica.
    pub layers: usize,
}
