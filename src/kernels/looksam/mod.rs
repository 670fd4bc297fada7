//! LookSAM's two combinations (`looksam.wgsl`): on a SAM step, the part of the perturbed
//! gradient orthogonal to the gradient at x ([`prepare_project`], LookSAM's g_v); on the steps
//! in between, the step's gradient with g_v added back, scaled to its norm
//! ([`prepare_reuse`]). Each is three launches: two reductions into a two-element buffer on
//! the device (the norm kernels' two stages each), then the elementwise combination, which
//! reads them there.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::choice::VectorForm;
use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::norm;
use super::perturb::EPS;
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/looksam/looksam.wgsl");

/// The uniform block (WGSL `Params`).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LookSamParams {
    n: u32,
    off_s: u32,
    alpha: f32,
    eps: f32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![uniform_layout!(
        "looksam",
        SRC,
        "Params",
        LookSamParams {
            n,
            off_s,
            alpha,
            eps
        }
    )]
}

/// Prepare `out` = gs − c·g with c = (g · gs) / (‖g‖² + eps): the part of SAM's perturbed
/// gradient `gs` orthogonal to the gradient `g` at x. `g`, `gs` and `out` are whole, distinct
/// buffers of the same length.
pub fn prepare_project(gpu: &Gpu, g: View<'_>, gs: View<'_>, out: View<'_>) -> Result<Dispatch> {
    check("looksam project", [g, gs, out])?;
    let s = gpu.zeros::<f32>(2, "looksam scalars")?;
    let dot = norm::prepare_dot(gpu, g, gs, s.slice(0, 1)?)?;
    let sq = norm::prepare(gpu, VectorForm::Storage, g, s.slice(1, 1)?)?;
    // The scalars' buffer lives on through the bind groups that use it.
    Ok(dot
        .then(sq)
        .then(combine(gpu, "project", 0.0, [g, gs, s.view(), out])?))
}

/// Prepare `out` = g + α·(‖g‖ / (‖v‖ + eps))·v: the step's gradient `g` with LookSAM's kept
/// g_v (`v`) added back at α times g's norm. Whole, distinct buffers of the same length.
pub fn prepare_reuse(
    gpu: &Gpu,
    alpha: f32,
    g: View<'_>,
    v: View<'_>,
    out: View<'_>,
) -> Result<Dispatch> {
    check("looksam reuse", [g, v, out])?;
    let s = gpu.zeros::<f32>(2, "looksam scalars")?;
    let gg = norm::prepare(gpu, VectorForm::Storage, g, s.slice(0, 1)?)?;
    let vv = norm::prepare(gpu, VectorForm::Storage, v, s.slice(1, 1)?)?;
    Ok(gg
        .then(vv)
        .then(combine(gpu, "reuse", alpha, [g, v, s.view(), out])?))
}

fn check(op: &'static str, [a, b, out]: [View<'_>; 3]) -> Result<()> {
    let n = a.len;
    if n == 0 || b.len != n || out.len != n {
        return Err(Error::shape(
            op,
            format!(
                "the vectors must be as long as each other, got {}, {} and {}",
                a.len, b.len, out.len
            ),
        ));
    }
    if [a.offset, b.offset, out.offset] != [0, 0, 0] {
        return Err(Error::shape(op, "the vectors must start at element 0"));
    }
    if out.buf.buffer == a.buf.buffer || out.buf.buffer == b.buf.buffer {
        return Err(Error::shape(op, "out must be a buffer of its own"));
    }
    Ok(())
}

fn combine(
    gpu: &Gpu,
    entry: &'static str,
    alpha: f32,
    [a, b, s, out]: [View<'_>; 4],
) -> Result<Dispatch> {
    const OP: &str = "looksam";
    let n = a.len;
    let p = LookSamParams {
        n: as_u32(OP, "n", n)?,
        off_s: 0,
        alpha,
        eps: EPS,
    };
    let bindings = [a, b, s, out].map(|v| Bind::Buf(&v.buf.buffer));
    build(
        gpu,
        Launch {
            label: "looksam",
            source: SRC,
            entry,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: None,
            bindings: &bindings,
            groups: grid_1d(gpu, as_u32(OP, "groups", n.div_ceil(256))?),
        },
    )
}

/// CPU f64 reference of [`prepare_project`].
pub fn reference_project(g: &[f64], gs: &[f64]) -> Vec<f64> {
    let c = norm::reference_dot(g, gs) / (norm::reference(g) + EPS as f64);
    g.iter().zip(gs).map(|(&g, &gs)| gs - c * g).collect()
}

/// CPU f64 reference of [`prepare_reuse`].
pub fn reference_reuse(alpha: f64, g: &[f64], v: &[f64]) -> Vec<f64> {
    let scale = alpha * norm::reference(g).sqrt() / (norm::reference(v).sqrt() + EPS as f64);
    g.iter().zip(v).map(|(&g, &v)| g + scale * v).collect()
}
