//! Batched transpose `[batch, rows, cols] → [batch, cols, rows]` (`transpose.wgsl`).

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/transpose/transpose.wgsl");

/// The uniform block (WGSL `Params`, followed by the replica strides).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TransposeParams {
    batch: u32,
    rows: u32,
    cols: u32,
    _pad: u32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    let t = uniform_layout!(
        "transpose",
        SRC,
        "Params",
        TransposeParams {
            batch,
            rows,
            cols,
            _pad
        }
    );
    vec![t.replicated()]
}

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
    let p = TransposeParams {
        batch: as_u32(OP, "batch", batch)?,
        rows: as_u32(OP, "rows", rows)?,
        cols: as_u32(OP, "cols", cols)?,
        _pad: 0,
    };
    build(
        gpu,
        Launch {
            label: "transpose",
            source: SRC,
            entry: "transpose",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(OP, &[x.rep(), y.rep()])?),
            bindings: &[Bind::Buf(&x.buf.buffer), Bind::Buf(&y.buf.buffer)],
            groups: grid_1d(gpu, as_u32(OP, "groups", n.div_ceil(256))?),
        },
    )
}

/// CPU reference.
pub fn reference<T: Copy + Into<f64>>(batch: usize, rows: usize, cols: usize, x: &[T]) -> Vec<f64> {
    let mut y = vec![0.0; batch * rows * cols];
    for b in 0..batch {
        for i in 0..rows {
            for j in 0..cols {
                y[(b * cols + j) * rows + i] = x[(b * rows + i) * cols + j].into();
            }
        }
    }
    y
}
