//! GSAM's update gradient (`gsam.wgsl`): the perturbed gradient with α times the part of the
//! gradient at x orthogonal to it taken away. Three launches: the dot product g · gp and the
//! squared norm ‖gp‖² (the norm kernels' two stages each, into a two-element buffer on the
//! device), then the elementwise combination, which reads them there.

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

const SRC: &str = crate::wgsl!("kernels/gsam/gsam.wgsl");

/// The uniform block (WGSL `Params`).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GsamParams {
    n: u32,
    off_s: u32,
    alpha: f32,
    eps: f32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![uniform_layout!(
        "gsam",
        SRC,
        "Params",
        GsamParams {
            n,
            off_s,
            alpha,
            eps
        }
    )]
}

/// Prepare `out` = gp − α·(g − c·gp) with c = (g · gp) / (‖gp‖² + eps); `g`, `gp` and `out`
/// are whole, distinct buffers of the same length.
pub fn prepare(
    gpu: &Gpu,
    alpha: f32,
    g: View<'_>,
    gp: View<'_>,
    out: View<'_>,
) -> Result<Dispatch> {
    const OP: &str = "gsam";
    let n = g.len;
    if n == 0 || gp.len != n || out.len != n {
        return Err(Error::shape(
            OP,
            format!(
                "g, gp and out must be as long as each other, got {}, {} and {}",
                g.len, gp.len, out.len
            ),
        ));
    }
    if [g.offset, gp.offset, out.offset] != [0, 0, 0] {
        return Err(Error::shape(OP, "g, gp and out must start at element 0"));
    }
    if out.buf.buffer == g.buf.buffer || out.buf.buffer == gp.buf.buffer {
        return Err(Error::shape(OP, "out must be a buffer of its own"));
    }
    // The dot product and the squared norm, side by side in one small buffer.
    let s = gpu.zeros::<f32>(2, "gsam scalars")?;
    let dot = norm::prepare_dot(gpu, g, gp, s.slice(0, 1)?)?;
    let norm = norm::prepare(gpu, VectorForm::Storage, gp, s.slice(1, 1)?)?;
    let p = GsamParams {
        n: as_u32(OP, "n", n)?,
        off_s: 0,
        alpha,
        eps: EPS,
    };
    let bindings = [
        Bind::Buf(&g.buf.buffer),
        Bind::Buf(&gp.buf.buffer),
        Bind::Buf(&s.buffer),
        Bind::Buf(&out.buf.buffer),
    ];
    let combine = build(
        gpu,
        Launch {
            label: "gsam",
            source: SRC,
            entry: "decompose",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: None,
            bindings: &bindings,
            groups: grid_1d(gpu, as_u32(OP, "groups", n.div_ceil(256))?),
        },
    )?;
    // The scalars' buffer lives on through the bind groups that use it.
    Ok(dot.then(norm).then(combine))
}

/// CPU f64 reference: gp − α·(g − c·gp), c = (g · gp) / (‖gp‖² + eps).
pub fn reference(alpha: f64, g: &[f64], gp: &[f64]) -> Vec<f64> {
    let c = norm::reference_dot(g, gp) / (norm::reference(gp) + EPS as f64);
    g.iter()
        .zip(gp)
        .map(|(&g, &gp)| gp - alpha * (g - c * gp))
        .collect()
}
