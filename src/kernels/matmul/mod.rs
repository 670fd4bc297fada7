//! Matrix multiply in the three forms training needs: `A·B`, `Aᵀ·B` and `A·Bᵀ`
//! (`matmul_reg.wgsl` in `reg`, its operands staged by `matmul_pack.wgsl` in `staging`;
//! `storage/tiled.wgsl` in `tiled`).
//!
//! The variants compute the same sums in the same order: a register-blocked one that reads its
//! operands through textures (for CPU rasterisers, where texture fetches are the only vectorised
//! loads; `matmul_pack.wgsl` stages the operands), a workgroup-tiled one that reads
//! storage buffers (for GPUs), and, where the device has subgroups, one that shares A's values
//! among a subgroup's lanes by shuffles (`subgroup`, `storage/subgroup.wgsl`). Which one a
//! device uses is decided by measurement (see `crate::tuning`), passed down in
//! [`super::Kernels`], and can be forced with `SAMPA_MATMUL=reg|reg8|tiled|subgroup`.

mod epilogue;
mod reg;
mod shape;
pub mod split;
mod staging;
mod subgroup;
pub mod tile;
// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod split_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
mod tiled;

pub use epilogue::Epilogue;
pub use shape::{Dims, Form, StagedA, Variant};

use super::dispatch::Dispatch;
use super::launch::Replicas;
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// The environment variable that forces a variant.
pub const VARIANT_ENV: &str = "SAMPA_MATMUL";

/// Prepare C = op(A)·op(B) (or C += with `accumulate`) with `variant`.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    gpu: &Gpu,
    variant: Variant,
    form: Form,
    dims: Dims,
    a: View<'_>,
    b: View<'_>,
    c: View<'_>,
    accumulate: bool,
) -> Result<Dispatch> {
    prepare_fused(
        gpu,
        variant,
        form,
        dims,
        (a, b, c),
        accumulate,
        Epilogue::default(),
    )
}

/// [`prepare`] with an [`Epilogue`] applied to C in the product's own store.
pub fn prepare_fused(
    gpu: &Gpu,
    variant: Variant,
    form: Form,
    dims: Dims,
    operands: (View<'_>, View<'_>, View<'_>),
    accumulate: bool,
    epilogue: Epilogue<'_>,
) -> Result<Dispatch> {
    let fused = (accumulate, epilogue);
    prepare_staged(gpu, variant, form, dims, operands, fused).map(|(d, _)| d)
}

/// [`prepare_fused`], and op(A) as the product staged it where a register variant stages it
/// whole (k in one chunk), for kernels that read it after the product.
pub fn prepare_staged(
    gpu: &Gpu,
    variant: Variant,
    form: Form,
    dims: Dims,
    (a, b, c): (View<'_>, View<'_>, View<'_>),
    (accumulate, epilogue): (bool, Epilogue<'_>),
) -> Result<(Dispatch, Option<StagedA>)> {
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
    let epi = epilogue::params(gpu, dims, c, epilogue)?;
    let (ta, tb) = form.transposes();
    let operands = (a, b, c);
    let unstaged = |d| (d, None);
    match variant {
        Variant::Tiled => {
            tiled::prepare(gpu, dims, (ta, tb), operands, replicas, accumulate, &epi).map(unstaged)
        }
        Variant::Register => reg::prepare(gpu, dims, (ta, tb), operands, (16, accumulate), &epi),
        Variant::Register8 => reg::prepare(gpu, dims, (ta, tb), operands, (8, accumulate), &epi),
        Variant::Subgroup => tiled::prepare_storage(
            gpu,
            tiled::Kernel::Subgroup,
            dims,
            (ta, tb),
            operands,
            (replicas, accumulate),
            &epi,
        )
        .map(unstaged),
    }
}

/// Prepare C = op(A)·op(B) with the tiled variant and `tile` (the tile search's timing; a run's
/// products take the adapter's chosen tile, see [`tile::choose`]).
pub fn prepare_with_tile(
    gpu: &Gpu,
    tile: tile::Tile,
    form: Form,
    dims: Dims,
    (a, b, c): (View<'_>, View<'_>, View<'_>),
) -> Result<Dispatch> {
    let none = epilogue::params(gpu, dims, c, Epilogue::default())?;
    let replicas = Replicas::of("matmul", &[a.rep(), b.rep(), c.rep()])?;
    a.expect_len("matmul", "A", dims.m * dims.k)?;
    b.expect_len("matmul", "B", dims.k * dims.n)?;
    c.expect_len("matmul", "C", dims.m * dims.n)?;
    let operands = (a, b, c);
    tiled::prepare_tiled(
        gpu,
        tile,
        dims,
        form.transposes(),
        operands,
        (replicas, false),
        &none,
    )
}

/// The uniform layouts of every matmul kernel, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<super::layout::UniformLayout> {
    [reg::uniform_layouts(), tiled::uniform_layouts()].concat()
}

/// CPU f64 reference: op(A)·op(B) for operands stored as [`prepare`] expects.
pub fn reference<T: Copy + Into<f64>>(form: Form, dims: Dims, a: &[T], b: &[T]) -> Vec<f64> {
    let Dims { m, n, k } = dims;
    let (ta, tb) = form.transposes();
    let mut c = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for p in 0..k {
                let av = if ta { a[p * m + i] } else { a[i * k + p] };
                let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                s += av.into() * bv.into();
            }
            c[i * n + j] = s;
        }
    }
    c
}
