//! The subgroup variant (`storage/subgroup.wgsl` after `storage/prelude.wgsl`): a TM×4
//! register block per invocation, with A's values passed between a subgroup's lanes by
//! `subgroupShuffle` instead of through workgroup memory. It shares the tiled variant's uniform, operands and k chunks, and
//! launches through [`super::tiled`]; this module says what differs: the source, its
//! constants and its grid.

use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// The storage-buffer kernels' prelude and the subgroup kernel after it.
pub(super) const SUBGROUP_SRC: &str = concat!(
    crate::wgsl!("kernels/matmul/storage/prelude.wgsl"),
    crate::wgsl!("kernels/matmul/storage/subgroup.wgsl")
);

/// The source to compile: natively the file as it is, since naga takes subgroup builtins
/// without a directive (and rejects `enable subgroups;`); in the browser with that directive
/// first, which WebGPU requires. One string for the program's life, since pipelines are
/// cached by their source's address.
pub(super) fn source() -> &'static str {
    #[cfg(target_arch = "wasm32")]
    {
        static WITH_ENABLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        WITH_ENABLE.get_or_init(|| format!("enable subgroups;\n{SUBGROUP_SRC}"))
    }
    #[cfg(not(target_arch = "wasm32"))]
    SUBGROUP_SRC
}

/// Invocations per workgroup: each takes 4 columns, so a workgroup covers 256.
const WG: u32 = 64;
/// Rows of C per invocation (and per workgroup).
const TM: u32 = 8;

/// The shader's pipeline constants.
pub(super) fn constants() -> [(&'static str, f64); 2] {
    [("WG", WG as f64), ("TM", TM as f64)]
}

/// Workgroups along columns and rows for an m×n product.
pub(super) fn grid(m: usize, n: usize) -> (usize, usize) {
    (n.div_ceil(4 * WG as usize), m.div_ceil(TM as usize))
}

/// An error unless `gpu` has subgroups and can run the workgroup.
pub(super) fn check(gpu: &Gpu) -> Result<()> {
    super::shape::Variant::Subgroup.require(gpu)?;
    if WG > gpu.limits.max_compute_invocations_per_workgroup
        || WG > gpu.limits.max_compute_workgroup_size_x
    {
        return Err(Error::shape(
            "matmul",
            format!("the subgroup kernel's {WG} invocations do not fit this device"),
        ));
    }
    Ok(())
}
