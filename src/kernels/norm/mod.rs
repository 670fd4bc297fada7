//! Global squared L2 norm of a flat vector, a two-stage reduction (`prelude.wgsl` with
//! `norm.wgsl`, the storage form and final stage, or `norm_tex.wgsl`, the texture form of the
//! first stage).
//!
//! The result stays on the device, in an element of an output vector, so SAM's perturbation
//! can divide by it without a host round trip.

use super::choice::VectorForm;
use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, as_u32, build};
use super::layout::{UniformLayout, uniform_layout};
use super::textures::texture_copies;
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

const STORAGE_SRC: &str = concat!(
    crate::wgsl!("kernels/norm/prelude.wgsl"),
    crate::wgsl!("kernels/norm/norm.wgsl")
);
const TEXTURE_SRC: &str = concat!(
    crate::wgsl!("kernels/norm/prelude.wgsl"),
    crate::wgsl!("kernels/norm/norm_tex.wgsl")
);

/// The uniform block (WGSL `Params` in prelude.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct NormParams {
    n: u32,
    off: u32,
    groups: u32,
    off_out: u32,
}

/// The uniform layouts of both forms, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    [STORAGE_SRC, TEXTURE_SRC]
        .map(|src| {
            uniform_layout!(
                "norm",
                src,
                "Params",
                NormParams {
                    n,
                    off,
                    groups,
                    off_out
                }
            )
        })
        .into()
}

/// Most workgroups in the first stage on a CPU rasteriser: 16384 invocations are more than its
/// threads, and one workgroup adds their partial sums 64 each.
const CPU_MAX_GROUPS: usize = 64;

/// Most workgroups in the first stage on a GPU: about two per multiprocessor of the largest
/// (an H200 has 132, each holding 2048 invocations), so a long vector's reads keep every
/// memory channel busy; the final stage's workgroup then adds 1024 partial sums per invocation.
const GPU_MAX_GROUPS: usize = 1024;

/// Prepare out = Σ x² over the view `x`, written to element `out.offset` of `out`'s buffer,
/// reading x as `form` says (a texture copy only for a whole-row vector from element 0).
pub fn prepare(gpu: &Gpu, form: VectorForm, x: View<'_>, out: View<'_>) -> Result<Dispatch> {
    reduce(gpu, form, x, out)
}

/// Prepare out = Σ (w ⊙ x)² (ASAM's ‖|w| ⊙ x‖²); `w` is a whole buffer as long as `x`.
pub fn prepare_weighted(gpu: &Gpu, w: View<'_>, x: View<'_>, out: View<'_>) -> Result<Dispatch> {
    whole_weights("sumsq_weighted", w, x)?;
    reduce_pair(gpu, Source::Weighted { w, x }, out)
}

/// Prepare out = Σ w ⊙ x, the dot product (GSAM's g · g_p); `w` is a whole buffer as long as
/// `x`. The same two stages in a fixed order as the squared norm, so it repeats bit for bit.
pub fn prepare_dot(gpu: &Gpu, w: View<'_>, x: View<'_>, out: View<'_>) -> Result<Dispatch> {
    whole_weights("dot", w, x)?;
    reduce_pair(gpu, Source::Dot { w, x }, out)
}

/// Prepare out = Σ (x − w)², the squared distance between two vectors, elementwise (no
/// cancellation when they are close); `w` is a whole buffer as long as `x`.
pub fn prepare_distance(gpu: &Gpu, w: View<'_>, x: View<'_>, out: View<'_>) -> Result<Dispatch> {
    whole_weights("distance", w, x)?;
    reduce_pair(gpu, Source::Distance { w, x }, out)
}

/// `w`, which the first stage reads from element 0, must be a whole buffer as long as `x`.
fn whole_weights(op: &'static str, w: View<'_>, x: View<'_>) -> Result<()> {
    if w.len != x.len || w.offset != 0 {
        return Err(Error::shape(
            op,
            format!(
                "the weights must be a whole buffer of {} elements, got {} from {}",
                x.len, w.len, w.offset
            ),
        ));
    }
    Ok(())
}

/// Where the first stage reads the vector.
enum Source<'a> {
    /// A view of a storage buffer (offset a multiple of 4).
    Buf(View<'a>),
    /// The same, each element weighted by the whole buffer `w`.
    Weighted { w: View<'a>, x: View<'a> },
    /// The products of the whole buffer `w` and the view `x`.
    Dot { w: View<'a>, x: View<'a> },
    /// The squared differences of the view `x` and the whole buffer `w`.
    Distance { w: View<'a>, x: View<'a> },
    /// A texture copy of a vector from element 0 (see `texture_copies`).
    Tex(&'a wgpu::TextureView),
}

fn reduce(gpu: &Gpu, form: VectorForm, x: View<'_>, out: View<'_>) -> Result<Dispatch> {
    check_vector(x, out)?;
    // A whole-row vector from element 0 is read through a texture copy.
    if x.offset == 0
        && form == VectorForm::Texture
        && let Some((copy, views)) = texture_copies(gpu, as_u32("sumsq", "n", x.len)?, &[x])?
    {
        return Ok(copy.then(stages(gpu, Source::Tex(&views[0]), x.len, out)?));
    }
    stages(gpu, Source::Buf(x), x.len, out)
}

/// The weighted or dot form over `src`'s `x` (storage reads only).
fn reduce_pair(gpu: &Gpu, src: Source<'_>, out: View<'_>) -> Result<Dispatch> {
    let (Source::Weighted { x, .. } | Source::Dot { x, .. } | Source::Distance { x, .. }) = src
    else {
        unreachable!("reduce_pair takes the two-vector sources")
    };
    check_vector(x, out)?;
    stages(gpu, src, x.len, out)
}

/// A vector the first stage can read: not empty, from a multiple of 4, not sharing `out`'s
/// buffer.
fn check_vector(x: View<'_>, out: View<'_>) -> Result<()> {
    const OP: &str = "sumsq";
    if x.len == 0 {
        return Err(Error::shape(OP, "the vector is empty"));
    }
    if !x.offset.is_multiple_of(4) {
        return Err(Error::shape(
            OP,
            format!(
                "the vector must start at a multiple of 4 elements, not {}",
                x.offset
            ),
        ));
    }
    if x.buf.buffer == out.buf.buffer {
        return Err(Error::shape(OP, "out must not share a buffer with x"));
    }
    Ok(())
}

/// Prepare out = Σ x² over the first `n` elements of a vector already copied into `tex` by
/// `texture_copies` (a kernel that reads the same vector shares the copy).
pub(crate) fn prepare_from_texture(
    gpu: &Gpu,
    tex: &wgpu::TextureView,
    n: usize,
    out: View<'_>,
) -> Result<Dispatch> {
    if n == 0 {
        return Err(Error::shape("sumsq", "the vector is empty"));
    }
    stages(gpu, Source::Tex(tex), n, out)
}

/// The two stages over `n` elements read from `src`, the sum landing in `out`.
fn stages(gpu: &Gpu, src: Source<'_>, n: usize, out: View<'_>) -> Result<Dispatch> {
    const OP: &str = "sumsq";
    out.expect_len(OP, "out", 1)?;
    let groups = partial_groups(gpu, n);
    let partials = gpu.zeros::<f32>(256 * groups, "norm partial sums")?;
    let params = |n: usize, off: usize| -> Result<NormParams> {
        Ok(NormParams {
            n: as_u32(OP, "n", n)?,
            off: as_u32(OP, "offset", off)?,
            groups: groups as u32,
            off_out: as_u32(OP, "out offset", out.offset)?,
        })
    };
    let stage = |(label, source, entry), p: NormParams, bindings: &[Bind<'_>], g: u32| {
        build(
            gpu,
            Launch {
                label,
                source,
                entry,
                constants: &[],
                params: Params::Bytes(bytemuck::bytes_of(&p)),
                replicas: None,
                bindings,
                groups: [g, 1, 1],
            },
        )
    };
    let sums = Bind::Buf(&partials.buffer);
    let storage = |entry| ("norm", STORAGE_SRC, entry);
    let (entry, off, bindings) = match &src {
        Source::Buf(x) => (
            storage("sumsq_partial"),
            x.offset,
            vec![Bind::Buf(&x.buf.buffer), sums],
        ),
        Source::Weighted { w, x } => (
            storage("sumsq_weighted_partial"),
            x.offset,
            vec![Bind::Buf(&x.buf.buffer), sums, Bind::Buf(&w.buf.buffer)],
        ),
        Source::Dot { w, x } => (
            storage("dot_partial"),
            x.offset,
            vec![Bind::Buf(&x.buf.buffer), sums, Bind::Buf(&w.buf.buffer)],
        ),
        Source::Distance { w, x } => (
            storage("distance_partial"),
            x.offset,
            vec![Bind::Buf(&x.buf.buffer), sums, Bind::Buf(&w.buf.buffer)],
        ),
        Source::Tex(t) => (
            ("norm_tex", TEXTURE_SRC, "sumsq_partial"),
            0,
            vec![Bind::Tex(t), sums],
        ),
    };
    let first = stage(entry, params(n, off)?, &bindings, groups as u32)?;
    // The partials buffer lives on through the bind groups that use it.
    Ok(first.then(prepare_final(gpu, &partials, groups, out)?))
}

/// The workgroups of the first stage over `n` elements on `gpu` (256 partial sums each): at
/// least 1024 elements per workgroup, and no more workgroups than the adapter can use.
pub(crate) fn partial_groups(gpu: &Gpu, n: usize) -> usize {
    let most = match gpu.adapter.is_cpu() {
        true => CPU_MAX_GROUPS,
        false => GPU_MAX_GROUPS,
    };
    n.div_ceil(1024).min(most)
}

/// Prepare the final stage alone: `out` = the sum of the `256 * groups` partial sums in
/// `partials`, left there by a kernel that runs the first stage's loop (the SGD step does, for
/// the x it writes).
pub(crate) fn prepare_final(
    gpu: &Gpu,
    partials: &GpuBuf<f32>,
    groups: usize,
    out: View<'_>,
) -> Result<Dispatch> {
    const OP: &str = "sumsq";
    out.expect_len(OP, "out", 1)?;
    if groups == 0 || partials.len < 256 * groups {
        return Err(Error::shape(
            OP,
            format!(
                "{groups} workgroups' partial sums need {} floats, the buffer has {}",
                256 * groups,
                partials.len
            ),
        ));
    }
    let p = NormParams {
        n: as_u32(OP, "groups", groups)?,
        off: 0,
        groups: groups as u32,
        off_out: as_u32(OP, "out offset", out.offset)?,
    };
    let bindings = [
        Bind::Unused,
        Bind::Buf(&out.buf.buffer),
        Bind::Unused,
        Bind::Buf(&partials.buffer),
    ];
    build(
        gpu,
        Launch {
            label: "norm",
            source: STORAGE_SRC,
            entry: "sumsq_final",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: None,
            bindings: &bindings,
            groups: [1, 1, 1],
        },
    )
}

/// CPU f64 reference of the dot product.
pub fn reference_dot<T: Copy + Into<f64>>(w: &[T], x: &[T]) -> f64 {
    w.iter().zip(x).map(|(&w, &x)| w.into() * x.into()).sum()
}

/// CPU f64 reference of the squared distance.
pub fn reference_distance<T: Copy + Into<f64>>(w: &[T], x: &[T]) -> f64 {
    w.iter()
        .zip(x)
        .map(|(&w, &x)| (x.into() - w.into()).powi(2))
        .sum()
}

/// CPU f64 reference of the weighted form.
pub fn reference_weighted<T: Copy + Into<f64>>(w: &[T], x: &[T]) -> f64 {
    w.iter()
        .zip(x)
        .map(|(&w, &x)| (w.into() * x.into()).powi(2))
        .sum()
}

/// CPU f64 reference.
pub fn reference<T: Copy + Into<f64>>(x: &[T]) -> f64 {
    x.iter().map(|&v| v.into() * v.into()).sum()
}
