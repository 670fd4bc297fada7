//! Which form of each kernel a device runs. Both forms of every kernel compute the same values
//! bit for bit; they differ only in speed, by a factor of several depending on the adapter, so
//! the choice is made once per adapter (by measurement natively, see `crate::tuning`), passed
//! down to every prepared kernel, and recorded with a run.

use super::matmul::Variant;
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

/// The kernel forms one device uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Kernels {
    /// The matrix product.
    pub matmul: Variant,
    /// The optimizer's elementwise kernels.
    pub vectors: VectorForm,
}

impl Kernels {
    /// The forms for GPUs: workgroup-tiled products and storage loads (the browser's default,
    /// where nothing is measured).
    pub const GPU: Kernels = Kernels {
        matmul: Variant::Tiled,
        vectors: VectorForm::Storage,
    };

    /// The forms for CPU rasterisers such as llvmpipe.
    pub const CPU: Kernels = Kernels {
        matmul: Variant::Register,
        vectors: VectorForm::Texture,
    };

    /// The forms for an adapter of `device_type` where nothing is measured (the browser's
    /// training page, whose start-up cannot wait for a measurement): on CPU adapters the
    /// register-blocked products (SwiftShader's run six times faster than its tiled ones, as
    /// llvmpipe's do) in their 8-row form, since the page's first step waits for its compile
    /// (SwiftShader compiles it in 0.45 s, the 16-row form in 1.1 s); else [`Kernels::GPU`].
    pub fn unmeasured(device_type: wgpu::DeviceType) -> Kernels {
        match device_type {
            wgpu::DeviceType::Cpu => Kernels {
                matmul: Variant::Register8,
                ..Kernels::CPU
            },
            _ => Kernels::GPU,
        }
    }
}
