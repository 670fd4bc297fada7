//! Which form of each kernel a device runs. Both forms of every kernel compute the same values
//! bit for bit; they differ only in speed, by a factor of several depending on the adapter, so
//! the choice is made once per adapter (by measurement natively, see `crate::tuning`), passed
//! down to every prepared kernel, and recorded with a run.

use super::matmul::{Dims, Variant};
use crate::error::{Error, Result};

/// How the optimizer's elementwise kernels (SGD step, look-ahead, norm, perturbation) read
/// their vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorForm {
    /// Storage-buffer loads: the form for GPUs.
    Storage,
    /// Texture copies of the vectors, read by texture fetches: CPU rasterisers turn every
    /// storage load into a loop over their SIMD lanes, and a fetch into one gather. Used for
    /// vectors allocated in whole texture rows; others fall back to storage loads.
    Texture,
}

impl VectorForm {
    /// Both forms, for measurement.
    pub const ALL: [VectorForm; 2] = [VectorForm::Storage, VectorForm::Texture];

    /// The short name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            VectorForm::Storage => "storage",
            VectorForm::Texture => "texture",
        }
    }

    /// Parse [`VectorForm::name`].
    pub fn parse(s: &str) -> Result<VectorForm> {
        match s.trim().to_ascii_lowercase().as_str() {
            "storage" => Ok(VectorForm::Storage),
            "texture" => Ok(VectorForm::Texture),
            other => Err(Error::Invalid(format!(
                "unknown vector form {other:?}: expected `storage` or `texture`"
            ))),
        }
    }
}

/// The classes of product shapes whose fastest matmul variant can differ, timed apart by
/// tuning: a GPU's register forms can win on an MLP's small products and lose on long sums,
/// which only the storage forms split over many workgroups (`kernels::matmul::split`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ShapeClass {
    /// Products of an MLP's size: at most 2^27 multiply-adds.
    Mlp,
    /// Larger products whose sum is not long against their output.
    Square,
    /// Products whose sum is at least eight times the output's longer side: weight gradients
    /// summed over a batch's rows (or a sequence's tokens).
    LongK,
}

impl ShapeClass {
    /// Every class, in tuning's order.
    pub const ALL: [ShapeClass; 3] = [ShapeClass::Mlp, ShapeClass::Square, ShapeClass::LongK];

    /// The class of a product of `dims`.
    pub fn of(dims: Dims) -> ShapeClass {
        let Dims { m, n, k } = dims;
        if k >= 8 * m.max(n) {
            ShapeClass::LongK
        } else if m as u64 * n as u64 * k as u64 <= 1 << 27 {
            ShapeClass::Mlp
        } else {
            ShapeClass::Square
        }
    }

    /// The name used in the tuning cache and reports.
    pub fn name(self) -> &'static str {
        match self {
            ShapeClass::Mlp => "mlp",
            ShapeClass::Square => "square",
            ShapeClass::LongK => "long-k",
        }
    }
}

/// The kernel forms one device uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Kernels {
    /// The matrix products' variant: for products of the MLP's class, and for every class and
    /// the convolutions where no other is named below.
    pub matmul: Variant,
    /// The variant of larger products ([`ShapeClass::Square`]), where tuning chose another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub square: Option<Variant>,
    /// The variant of long sums ([`ShapeClass::LongK`]), where tuning chose another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_k: Option<Variant>,
    /// The convolutions' variant, where tuning chose another: the register forms run them as
    /// implicit GEMMs, the storage forms as products over im2col columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv: Option<Variant>,
    /// The optimizer's elementwise kernels.
    pub vectors: VectorForm,
}

impl Kernels {
    /// The forms for GPUs: workgroup-tiled products and storage loads (the browser's default,
    /// where nothing is measured).
    pub const GPU: Kernels = Kernels::uniform(Variant::Tiled, VectorForm::Storage);

    /// The forms for CPU rasterisers such as llvmpipe.
    pub const CPU: Kernels = Kernels::uniform(Variant::Register, VectorForm::Texture);

    /// `matmul` for every product and convolution, and `vectors`.
    pub const fn uniform(matmul: Variant, vectors: VectorForm) -> Kernels {
        Kernels {
            matmul,
            square: None,
            long_k: None,
            conv: None,
            vectors,
        }
    }

    /// The forms for an adapter of `device_type` where nothing is measured (the browser's
    /// training page, whose start-up cannot wait for a measurement): on CPU adapters the
    /// register-blocked products (SwiftShader's run six times faster than its tiled ones, as
    /// llvmpipe's do) in their 8-row form, since the page's first step waits for its compile
    /// (SwiftShader compiles it in 0.45 s, the 16-row form in 1.1 s); else [`Kernels::GPU`].
    pub fn unmeasured(device_type: wgpu::DeviceType) -> Kernels {
        match device_type {
            wgpu::DeviceType::Cpu => Kernels::uniform(Variant::Register8, VectorForm::Texture),
            _ => Kernels::GPU,
        }
    }

    /// The variant of a dense product of `dims`, by its shape class.
    pub fn dense(&self, dims: Dims) -> Variant {
        self.class(ShapeClass::of(dims))
    }

    /// The variant of shape class `class`.
    pub fn class(&self, class: ShapeClass) -> Variant {
        let named = match class {
            ShapeClass::Mlp => None,
            ShapeClass::Square => self.square,
            ShapeClass::LongK => self.long_k,
        };
        named.unwrap_or(self.matmul)
    }

    /// The convolutions' variant.
    pub fn conv(&self) -> Variant {
        self.conv.unwrap_or(self.matmul)
    }

    /// Every variant these forms use, each once (the matmul variant first).
    pub fn variants(&self) -> Vec<Variant> {
        let mut out = vec![self.matmul];
        for v in [self.square, self.long_k, self.conv].into_iter().flatten() {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_classes_split_the_products_tuning_times_apart() {
        let d = |m, n, k| Dims { m, n, k };
        // The MLP's forward, weight and input gradients at batch 128.
        for dims in [d(128, 256, 784), d(256, 784, 128), d(128, 784, 256)] {
            assert_eq!(ShapeClass::of(dims), ShapeClass::Mlp, "{dims:?}");
        }
        // A ResNet-20 first-stage weight gradient over 128·32·32 pixels, and BERT-base's over
        // 32 sequences of 128 tokens: long sums.
        assert_eq!(ShapeClass::of(d(16, 144, 131072)), ShapeClass::LongK);
        assert_eq!(ShapeClass::of(d(768, 768, 4096 * 8)), ShapeClass::LongK);
        // Square-ish products past 2^27 multiply-adds, and the edges of each class.
        assert_eq!(ShapeClass::of(d(1024, 1024, 1024)), ShapeClass::Square);
        assert_eq!(ShapeClass::of(d(512, 512, 512)), ShapeClass::Mlp);
        assert_eq!(ShapeClass::of(d(512, 512, 513)), ShapeClass::Square);
        assert_eq!(ShapeClass::of(d(64, 64, 512)), ShapeClass::LongK);
        assert_eq!(ShapeClass::of(d(64, 64, 511)), ShapeClass::Mlp);
    }

    #[test]
    fn unnamed_classes_take_the_matmul_variant() {
        let mut k = Kernels::uniform(Variant::Register, VectorForm::Texture);
        let long = Dims {
            m: 16,
            n: 16,
            k: 4096,
        };
        assert_eq!(k.dense(long), Variant::Register);
        assert_eq!(k.conv(), Variant::Register);
        assert_eq!(k.variants(), [Variant::Register]);
        k.long_k = Some(Variant::Tiled);
        k.conv = Some(Variant::Register8);
        assert_eq!(k.dense(long), Variant::Tiled);
        assert_eq!(k.class(ShapeClass::Square), Variant::Register);
        assert_eq!(k.conv(), Variant::Register8);
        assert_eq!(
            k.variants(),
            [Variant::Register, Variant::Tiled, Variant::Register8]
        );
    }
}
