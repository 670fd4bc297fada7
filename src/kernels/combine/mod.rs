//! Two combinations of two gradients through their dot product and norms (`combine.wgsl`):
//! [`prepare_orthogonal`], u·b + v·(the part of a orthogonal to b), which is GSAM's update
//! gradient and LookSAM's kept g_v; and [`prepare_rescaled`], a plus b scaled to v times a's
//! norm, which is LookSAM's step between its SAM steps. Each is three launches: two
//! reductions into a two-element buffer on the device (the norm kernels' two stages each),
//! then the elementwise combination, which reads them there.

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

const SRC: &str = crate::wgsl!("kernels/combine/combine.wgsl");

/// The uniform block (WGSL `Params`).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CombineParams {
    n: u32,
    u: f32,
    v: f32,
    eps: f32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![uniform_layout!(
        "combine",
        SRC,
        "Params",
        CombineParams { n, u, v, eps }
    )]
}

/// Prepare `out` = u·b + v·(a − c·b) with c = (a · b) / (‖b‖² + eps). GSAM's update gradient
/// is `(1, −α)` with a = g, b = g_p; LookSAM's g_v is `(0, 1)` with a = g_s, b = g. `a`, `b`
/// and `out` are whole, distinct buffers of the same length.
pub fn prepare_orthogonal(
    gpu: &Gpu,
    (u, v): (f32, f32),
    a: View<'_>,
    b: View<'_>,
    out: View<'_>,
) -> Result<Dispatch> {
    check("combine orthogonal", [a, b, out])?;
    let s = gpu.zeros::<f32>(2, "combine scalars")?;
    let dot = norm::prepare_dot(gpu, a, b, s.slice(0, 1)?)?;
    let bb = norm::prepare(gpu, VectorForm::Storage, b, s.slice(1, 1)?)?;
    // The scalars' buffer lives on through the bind groups that use it.
    Ok(dot
        .then(bb)
        .then(combine(gpu, "orthogonal", (u, v), [a, b, s.view(), out])?))
}

/// Prepare `out` = a + v·(‖a‖ / (‖b‖ + eps))·b: LookSAM's step gradient g with its kept g_v
/// (`b`) added back at v times g's norm. Whole, distinct buffers of the same length.
pub fn prepare_rescaled(
    gpu: &Gpu,
    v: f32,
    a: View<'_>,
    b: View<'_>,
    out: View<'_>,
) -> Result<Dispatch> {
    check("combine rescaled", [a, b, out])?;
    let s = gpu.zeros::<f32>(2, "combine scalars")?;
    let aa = norm::prepare(gpu, VectorForm::Storage, a, s.slice(0, 1)?)?;
    let bb = norm::prepare(gpu, VectorForm::Storage, b, s.slice(1, 1)?)?;
    Ok(aa
        .then(bb)
        .then(combine(gpu, "rescaled", (0.0, v), [a, b, s.view(), out])?))
}

fn check(op: &'static str, [a, b, out]: [View<'_>; 3]) -> Result<()> {
    let n = a.len;
    if n == 0 || b.len != n || out.len != n {
        return Err(Error::shape(
            op,
            format!(
                "a, b and out must be as long as each other, got {}, {} and {}",
                a.len, b.len, out.len
            ),
        ));
    }
    if [a.offset, b.offset, out.offset] != [0, 0, 0] {
        return Err(Error::shape(op, "a, b and out must start at element 0"));
    }
    if out.buf.buffer == a.buf.buffer || out.buf.buffer == b.buf.buffer {
        return Err(Error::shape(op, "out must be a buffer of its own"));
    }
    Ok(())
}

fn combine(
    gpu: &Gpu,
    entry: &'static str,
    (u, v): (f32, f32),
    [a, b, s, out]: [View<'_>; 4],
) -> Result<Dispatch> {
    const OP: &str = "combine";
    let n = a.len;
    let p = CombineParams {
        n: as_u32(OP, "n", n)?,
        u,
        v,
        eps: EPS,
    };
    let bindings = [a, b, s, out].map(|x| Bind::Buf(&x.buf.buffer));
    build(
        gpu,
        Launch {
            label: "combine",
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

/// CPU f64 reference of [`prepare_orthogonal`].
pub fn reference_orthogonal((u, v): (f64, f64), a: &[f64], b: &[f64]) -> Vec<f64> {
    let c = norm::reference_dot(a, b) / (norm::reference(b) + EPS as f64);
    a.iter()
        .zip(b)
        .map(|(&a, &b)| u * b + v * (a - c * b))
        .collect()
}

/// CPU f64 reference of [`prepare_rescaled`].
pub fn reference_rescaled(v: f64, a: &[f64], b: &[f64]) -> Vec<f64> {
    let scale = v * norm::reference(a).sqrt() / (norm::reference(b).sqrt() + EPS as f64);
    a.iter().zip(b).map(|(&a, &b)| a + scale * b).collect()
}
