//! ReLU forward and backward (`relu.wgsl`).

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};

const SRC: &str = crate::wgsl!("kernels/relu/relu.wgsl");

/// The uniform block (WGSL `Params`, followed by the replica strides).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ReluParams {
    n: u32,
    _pad: [u32; 3],
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![uniform_layout!("relu", SRC, "Params", ReluParams { n, _pad }).replicated()]
}

fn whole<'a>(op: &'static str, name: &str, v: View<'a>, n: usize) -> Result<&'a GpuBuf<f32>> {
    v.expect_len(op, name, n)?;
    if v.offset != 0 {
        return Err(Error::shape(
            op,
            format!("{name} must start at element 0 of its buffer"),
        ));
    }
    Ok(v.buf)
}

fn launch(
    gpu: &Gpu,
    op: &'static str,
    n: usize,
    views: &[View<'_>],
    bindings: &[Bind<'_>],
) -> Result<Dispatch> {
    if n == 0 {
        return Err(Error::shape(op, "n must be positive"));
    }
    let reps: Vec<_> = views.iter().map(|v| v.rep()).collect();
    // Bound as vec4s: a replica must start on a vec4.
    if reps.iter().any(|r| r.1 % 4 != 0) {
        return Err(Error::shape(op, "replica strides must be multiples of 4"));
    }
    let p = ReluParams {
        n: as_u32(op, "n", n)?,
        _pad: [0; 3],
    };
    build(
        gpu,
        Launch {
            label: "relu",
            source: SRC,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(op, &reps)?),
            bindings,
            groups: grid_1d(gpu, as_u32(op, "groups", n.div_ceil(1024))?),
        },
    )
}

/// Prepare y = max(x, 0) over `n` elements.
pub fn prepare_forward(gpu: &Gpu, n: usize, x: View<'_>, y: View<'_>) -> Result<Dispatch> {
    const OP: &str = "relu_forward";
    let views = [x, y];
    let (x, y) = (whole(OP, "x", x, n)?, whole(OP, "y", y, n)?);
    launch(
        gpu,
        OP,
        n,
        &views,
        &[Bind::Buf(&x.buffer), Bind::Buf(&y.buffer)],
    )
}

/// Prepare `dx = dy · [y > 0]` over `n` elements, `y` being the forward output.
pub fn prepare_backward(
    gpu: &Gpu,
    n: usize,
    dy: View<'_>,
    dx: View<'_>,
    y: View<'_>,
) -> Result<Dispatch> {
    const OP: &str = "relu_backward";
    let views = [dy, dx, y];
    let (dy, dx, y) = (
        whole(OP, "dy", dy, n)?,
        whole(OP, "dx", dx, n)?,
        whole(OP, "y", y, n)?,
    );
    launch(
        gpu,
        OP,
        n,
        &views,
        &[
            Bind::Buf(&dy.buffer),
            Bind::Buf(&dx.buffer),
            Bind::Buf(&y.buffer),
        ],
    )
}

/// CPU f64 reference of the forward pass.
pub fn reference_forward<T: Copy + Into<f64>>(x: &[T]) -> Vec<f64> {
    x.iter().map(|&v| v.into().max(0.0)).collect()
}

/// CPU f64 reference of the backward pass.
pub fn reference_backward<T: Copy + Into<f64>>(dy: &[T], y: &[T]) -> Vec<f64> {
    dy.iter()
        .zip(y)
        .map(|(&d, &y)| if y.into() > 0.0 { d.into() } else { 0.0 })
        .collect()
}
