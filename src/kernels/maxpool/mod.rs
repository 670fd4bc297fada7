//! 2×2 max pooling, stride 2, on pixel-major `[N, H, W, C]` activations (`maxpool.wgsl`; with
//! channels in 4s, `maxpool4.wgsl`, the same comparisons on vec4s), and pooling over any
//! window, stride and padding in [`window`].

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
pub mod window;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/maxpool/maxpool.wgsl");
const SRC4: &str = crate::wgsl!("kernels/maxpool/maxpool4.wgsl");

/// The uniform block (WGSL `Params`, followed by the replica strides).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PoolParams {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![
        uniform_layout!("maxpool", SRC, "Params", PoolParams { n, h, w, c }).replicated(),
        uniform_layout!("maxpool4", SRC4, "Params", PoolParams { n, h, w, c }).replicated(),
        window::uniform_layout(),
    ]
}

/// The pooled input's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolShape {
    /// Batch.
    pub n: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl PoolShape {
    /// Elements of the input.
    pub fn input_len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }

    /// Elements of the output.
    pub fn output_len(&self) -> usize {
        self.n * (self.h / 2) * (self.w / 2) * self.c
    }
}

#[allow(clippy::too_many_arguments)]
fn launch(
    gpu: &Gpu,
    op: &'static str,
    s: PoolShape,
    relu: bool,
    src: View<'_>,
    dst: View<'_>,
    arg: View<'_, u32>,
    count: usize,
) -> Result<Dispatch> {
    if s.h < 2 || s.w < 2 || s.n == 0 || s.c == 0 {
        return Err(Error::shape(op, format!("cannot pool {s:?} by 2×2")));
    }
    if arg.len < s.output_len() || src.offset != 0 || dst.offset != 0 || arg.offset != 0 {
        return Err(Error::shape(
            op,
            "pooling needs whole buffers and an index buffer of the output's size",
        ));
    }
    let p = PoolParams {
        n: as_u32(op, "n", s.n)?,
        h: as_u32(op, "h", s.h)?,
        w: as_u32(op, "w", s.w)?,
        c: as_u32(op, "c", s.c)?,
    };
    // Four channels per invocation where every operand is whole vec4s (maxpool4.wgsl).
    let rep = Replicas::of(op, &[src.rep(), dst.rep(), arg.rep()])?;
    let vec4 = s.c.is_multiple_of(4) && rep.strides.iter().all(|s| s.is_multiple_of(4));
    let (label, source, count) = if vec4 {
        ("maxpool4", SRC4, count / 4)
    } else {
        ("maxpool", SRC, count)
    };
    build(
        gpu,
        Launch {
            label,
            source,
            entry: op,
            constants: &[("RELU", relu as u8 as f64)],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(rep),
            bindings: &[
                Bind::Buf(&src.buf.buffer),
                Bind::Buf(&dst.buf.buffer),
                Bind::Buf(&arg.buf.buffer),
            ],
            groups: grid_1d(gpu, as_u32(op, "groups", count.div_ceil(256))?),
        },
    )
}

/// Prepare y = maxpool(x), recording each window's winner in `arg`.
pub fn prepare_forward(
    gpu: &Gpu,
    s: PoolShape,
    relu: bool,
    x: View<'_>,
    y: View<'_>,
    arg: View<'_, u32>,
) -> Result<Dispatch> {
    x.expect_len("pool_forward", "x", s.input_len())?;
    y.expect_len("pool_forward", "y", s.output_len())?;
    launch(gpu, "pool_forward", s, relu, x, y, arg, s.output_len())
}

/// Prepare dx from dy and the forward pass's `arg`.
pub fn prepare_backward(
    gpu: &Gpu,
    s: PoolShape,
    dy: View<'_>,
    dx: View<'_>,
    arg: View<'_, u32>,
) -> Result<Dispatch> {
    dy.expect_len("pool_backward", "dy", s.output_len())?;
    dx.expect_len("pool_backward", "dx", s.input_len())?;
    launch(gpu, "pool_backward", s, false, dy, dx, arg, s.input_len())
}

/// CPU reference: (y, winner index per output), of maxpool(x) or, with `relu`, of
/// maxpool(relu(x)) with winner 4 where the window is all ≤ 0.
pub fn reference_forward<T: Copy + Into<f64>>(
    s: PoolShape,
    relu: bool,
    x: &[T],
) -> (Vec<f64>, Vec<u32>) {
    let (ho, wo) = (s.h / 2, s.w / 2);
    let mut y = Vec::with_capacity(s.output_len());
    let mut arg = Vec::with_capacity(s.output_len());
    for n in 0..s.n {
        for yo in 0..ho {
            for xo in 0..wo {
                for c in 0..s.c {
                    let at = |q: usize| {
                        x[((n * s.h + 2 * yo + q / 2) * s.w + 2 * xo + q % 2) * s.c + c].into()
                    };
                    let q = (1..4).fold(0, |b, q| if at(q) > at(b) { q } else { b });
                    if relu && at(q) <= 0.0 {
                        y.push(0.0);
                        arg.push(4);
                    } else {
                        y.push(at(q));
                        arg.push(q as u32);
                    }
                }
            }
        }
    }
    (y, arg)
}

/// CPU reference of the backward pass.
pub fn reference_backward<T: Copy + Into<f64>>(s: PoolShape, dy: &[T], arg: &[u32]) -> Vec<f64> {
    let (ho, wo) = (s.h / 2, s.w / 2);
    let mut dx = vec![0.0; s.input_len()];
    for n in 0..s.n {
        for yo in 0..ho {
            for xo in 0..wo {
                for c in 0..s.c {
                    let o = ((n * ho + yo) * wo + xo) * s.c + c;
                    let q = arg[o] as usize;
                    // Winner 4 means none: a fused ReLU zeroed the window.
                    if q < 4 {
                        dx[((n * s.h + 2 * yo + q / 2) * s.w + 2 * xo + q % 2) * s.c + c] =
                            dy[o].into();
                    }
                }
            }
        }
    }
    dx
}
