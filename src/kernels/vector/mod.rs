//! axpy, scale, copy and elementwise product on flat vectors (`vector.wgsl`, `scale.wgsl`).

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/vector/vector.wgsl");
const SCALE_SRC: &str = crate::wgsl!("kernels/vector/scale.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct VecParams {
    n: u32,
    off_x: u32,
    off_y: u32,
    alpha: f32,
}

/// The uniform layouts of both files, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    [("vector", SRC), ("scale", SCALE_SRC)]
        .map(|(kernel, src)| {
            uniform_layout!(
                kernel,
                src,
                "Params",
                VecParams {
                    n,
                    off_x,
                    off_y,
                    alpha
                }
            )
        })
        .into()
}

fn launch(
    gpu: &Gpu,
    op: &'static str,
    (label, source): (&'static str, &'static str),
    alpha: f32,
    x: Option<View<'_>>,
    y: View<'_>,
) -> Result<Dispatch> {
    let n = y.len;
    if n == 0 {
        return Err(Error::shape(op, "the vectors are empty"));
    }
    let mut buffers = Vec::with_capacity(2);
    let mut off_x = 0;
    if let Some(x) = x {
        if x.len != n {
            return Err(Error::shape(
                op,
                format!("x has {} elements but y has {n}", x.len),
            ));
        }
        if x.buf.buffer == y.buf.buffer {
            return Err(Error::shape(op, "x and y must be different buffers"));
        }
        buffers.push(Bind::Buf(&x.buf.buffer));
        off_x = as_u32(op, "x offset", x.offset)?;
    }
    buffers.push(Bind::Buf(&y.buf.buffer));
    let p = VecParams {
        n: as_u32(op, "n", n)?,
        off_x,
        off_y: as_u32(op, "y offset", y.offset)?,
        alpha,
    };
    build(
        gpu,
        Launch {
            label,
            source,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: None,
            bindings: &buffers,
            groups: grid_1d(gpu, as_u32(op, "groups", n.div_ceil(256))?),
        },
    )
}

/// Prepare y += alpha · x.
pub fn prepare_axpy(gpu: &Gpu, alpha: f32, x: View<'_>, y: View<'_>) -> Result<Dispatch> {
    launch(gpu, "axpy", ("vector", SRC), alpha, Some(x), y)
}

/// Prepare y = x.
pub fn prepare_copy(gpu: &Gpu, x: View<'_>, y: View<'_>) -> Result<Dispatch> {
    launch(gpu, "copy", ("vector", SRC), 0.0, Some(x), y)
}

/// Prepare y ⊙= x (elementwise product in place).
pub fn prepare_mul(gpu: &Gpu, x: View<'_>, y: View<'_>) -> Result<Dispatch> {
    launch(gpu, "mul", ("vector", SRC), 0.0, Some(x), y)
}

/// Prepare y *= alpha.
pub fn prepare_scale(gpu: &Gpu, alpha: f32, y: View<'_>) -> Result<Dispatch> {
    launch(gpu, "scale", ("scale", SCALE_SRC), alpha, None, y)
}

/// CPU f64 reference of axpy.
pub fn reference_axpy(alpha: f32, x: &[f32], y: &[f32]) -> Vec<f64> {
    x.iter()
        .zip(y)
        .map(|(&x, &y)| y as f64 + alpha as f64 * x as f64)
        .collect()
}

/// CPU f64 reference of scale.
pub fn reference_scale(alpha: f32, y: &[f32]) -> Vec<f64> {
    y.iter().map(|&y| alpha as f64 * y as f64).collect()
}
