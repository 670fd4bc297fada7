//! ReLU forward and backward (`shaders/relu.wgsl`).

use super::{Bind, Dispatch, Launch, Params, Replicas, View, as_u32, build, grid_1d};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};

const SRC: &str = include_str!("../../shaders/relu.wgsl");

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
    let p = [as_u32(op, "n", n)?, 0, 0, 0];
    build(
        gpu,
        Launch {
            label: "relu",
            source: SRC,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::cast_slice(&p)),
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

/// Prepare dx = dy · [y > 0] over `n` elements, `y` being the forward output.
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
pub fn reference_forward(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| (v as f64).max(0.0)).collect()
}

/// CPU f64 reference of the backward pass.
pub fn reference_backward(dy: &[f32], y: &[f32]) -> Vec<f64> {
    dy.iter()
        .zip(y)
        .map(|(&d, &y)| if y > 0.0 { d as f64 } else { 0.0 })
        .collect()
}
