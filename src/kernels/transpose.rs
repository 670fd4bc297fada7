//! Batched transpose `[batch, rows, cols] → [batch, cols, rows]` (`shaders/transpose.wgsl`).

use super::{Bind, Dispatch, Launch, Params, Replicas, View, as_u32, build, grid_1d};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = include_str!("../../shaders/transpose.wgsl");

/// Prepare out[b, j, i] = in[b, i, j].
pub fn prepare(
    gpu: &Gpu,
    batch: usize,
    rows: usize,
    cols: usize,
    x: View<'_>,
    y: View<'_>,
) -> Result<Dispatch> {
    const OP: &str = "transpose";
    let n = batch * rows * cols;
    if n == 0 {
        return Err(Error::shape(OP, "empty matrices"));
    }
    x.expect_len(OP, "input", n)?;
    y.expect_len(OP, "output", n)?;
    if x.offset != 0 || y.offset != 0 || x.buf.buffer == y.buf.buffer {
        return Err(Error::shape(
            OP,
            "input and output must be distinct whole buffers",
        ));
    }
    let p = [
        as_u32(OP, "batch", batch)?,
        as_u32(OP, "rows", rows)?,
        as_u32(OP, "cols", cols)?,
        0,
    ];
    build(
        gpu,
        Launch {
            label: "transpose",
            source: SRC,
            entry: "transpose",
            constants: &[],
            params: Params::Bytes(bytemuck::cast_slice(&p)),
            replicas: Some(Replicas::of(OP, &[x.rep(), y.rep()])?),
            bindings: &[Bind::Buf(&x.buf.buffer), Bind::Buf(&y.buf.buffer)],
            groups: grid_1d(gpu, as_u32(OP, "groups", n.div_ceil(256))?),
        },
    )
}

/// CPU reference.
pub fn reference(batch: usize, rows: usize, cols: usize, x: &[f32]) -> Vec<f64> {
    let mut y = vec![0.0; batch * rows * cols];
    for b in 0..batch {
        for i in 0..rows {
            for j in 0..cols {
                y[(b * cols + j) * rows + i] = x[(b * rows + i) * cols + j] as f64;
            }
        }
    }
    y
}
