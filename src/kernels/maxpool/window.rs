//! Max pooling over k×k windows with a stride and padding (`nn.MaxPool2d(k, s, p)`, the 3×3
//! stride-2 pool of torchvision's ResNet stem) on pixel-major `[N, H, W, C]` activations
//! (`window.wgsl`). Windows may overlap, so the backward gathers every window an input pixel
//! won.

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::dispatch::Dispatch;
use crate::kernels::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use crate::kernels::layout::{UniformLayout, uniform_layout};
use crate::kernels::view::View;

const SRC: &str = crate::wgsl!("kernels/maxpool/window.wgsl");

/// The uniform block (WGSL `Params`, followed by the replica strides).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct WindowParams {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
    ho: u32,
    wo: u32,
    k: u32,
    s: u32,
    pad: u32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layout() -> UniformLayout {
    uniform_layout!(
        "maxpool_window",
        SRC,
        "Params",
        WindowParams {
            n,
            h,
            w,
            c,
            ho,
            wo,
            k,
            s,
            pad
        }
    )
    .replicated()
}

/// A pooled input's shape and the pool's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowShape {
    /// Batch.
    pub n: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// Window side.
    pub k: usize,
    /// Step between windows.
    pub stride: usize,
    /// Padding on each side (at most k/2, as PyTorch requires).
    pub pad: usize,
}

impl WindowShape {
    /// The output's height and width, or `None` when the window does not fit, the stride is
    /// 0 or the padding exceeds half the window.
    pub fn out_hw(&self) -> Option<(usize, usize)> {
        let side = |n: usize| {
            (n + 2 * self.pad)
                .checked_sub(self.k)
                .map(|d| d / self.stride + 1)
        };
        if self.stride == 0 || self.k == 0 || 2 * self.pad > self.k {
            return None;
        }
        Some((side(self.h)?, side(self.w)?))
    }

    /// Elements of the input.
    pub fn input_len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }

    /// Elements of the output (0 when the window does not fit).
    pub fn output_len(&self) -> usize {
        self.out_hw()
            .map_or(0, |(ho, wo)| self.n * ho * wo * self.c)
    }
}

fn launch(
    gpu: &Gpu,
    op: &'static str,
    s: WindowShape,
    (src, dst, arg): (View<'_>, View<'_>, View<'_, u32>),
    count: usize,
) -> Result<Dispatch> {
    let Some((ho, wo)) = s.out_hw().filter(|_| s.n > 0 && s.c > 0) else {
        return Err(Error::shape(op, format!("cannot pool {s:?}")));
    };
    if arg.len < s.output_len() || src.offset != 0 || dst.offset != 0 || arg.offset != 0 {
        return Err(Error::shape(
            op,
            "pooling needs whole buffers and an index buffer of the output's size",
        ));
    }
    let u = |what, v| as_u32(op, what, v);
    let p = WindowParams {
        n: u("n", s.n)?,
        h: u("h", s.h)?,
        w: u("w", s.w)?,
        c: u("c", s.c)?,
        ho: u("ho", ho)?,
        wo: u("wo", wo)?,
        k: u("k", s.k)?,
        s: u("stride", s.stride)?,
        pad: u("pad", s.pad)?,
    };
    let rep = Replicas::of(op, &[src.rep(), dst.rep(), arg.rep()])?;
    build(
        gpu,
        Launch {
            label: "maxpool_window",
            source: SRC,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(rep),
            bindings: &[
                Bind::Buf(&src.buf.buffer),
                Bind::Buf(&dst.buf.buffer),
                Bind::Buf(&arg.buf.buffer),
            ],
            groups: grid_1d(gpu, u("groups", count.div_ceil(256))?),
        },
    )
}

/// Prepare y = maxpool(x), recording each window's winner in `arg`.
pub fn prepare_forward(
    gpu: &Gpu,
    s: WindowShape,
    x: View<'_>,
    y: View<'_>,
    arg: View<'_, u32>,
) -> Result<Dispatch> {
    x.expect_len("pool_forward", "x", s.input_len())?;
    y.expect_len("pool_forward", "y", s.output_len())?;
    launch(gpu, "pool_forward", s, (x, y, arg), s.output_len())
}

/// Prepare dx from dy and the forward pass's `arg`.
pub fn prepare_backward(
    gpu: &Gpu,
    s: WindowShape,
    dy: View<'_>,
    dx: View<'_>,
    arg: View<'_, u32>,
) -> Result<Dispatch> {
    dy.expect_len("pool_backward", "dy", s.output_len())?;
    dx.expect_len("pool_backward", "dx", s.input_len())?;
    launch(gpu, "pool_backward", s, (dy, dx, arg), s.input_len())
}

/// CPU reference: (y, winner per output as ky·k + kx), scanning each window in (ky, kx)
/// order and skipping the padding.
pub fn reference_forward<T: Copy + Into<f64>>(s: WindowShape, x: &[T]) -> (Vec<f64>, Vec<u32>) {
    let (ho, wo) = s.out_hw().expect("a window that fits");
    let mut y = Vec::with_capacity(s.output_len());
    let mut arg = Vec::with_capacity(s.output_len());
    for n in 0..s.n {
        for yo in 0..ho {
            for xo in 0..wo {
                for c in 0..s.c {
                    let mut best: Option<(f64, usize)> = None;
                    for q in 0..s.k * s.k {
                        let (iy, ix) = (yo * s.stride + q / s.k, xo * s.stride + q % s.k);
                        let (Some(iy), Some(ix)) = (iy.checked_sub(s.pad), ix.checked_sub(s.pad))
                        else {
                            continue;
                        };
                        if iy >= s.h || ix >= s.w {
                            continue;
                        }
                        let v = x[((n * s.h + iy) * s.w + ix) * s.c + c].into();
                        if best.is_none_or(|(b, _)| v > b) {
                            best = Some((v, q));
                        }
                    }
                    let (v, q) = best.expect("p ≤ k/2 leaves a pixel in every window");
                    y.push(v);
                    arg.push(q as u32);
                }
            }
        }
    }
    (y, arg)
}

/// CPU reference of the backward pass: each output's gradient added to its winner.
pub fn reference_backward<T: Copy + Into<f64>>(s: WindowShape, dy: &[T], arg: &[u32]) -> Vec<f64> {
    let (ho, wo) = s.out_hw().expect("a window that fits");
    let mut dx = vec![0.0; s.input_len()];
    for n in 0..s.n {
        for yo in 0..ho {
            for xo in 0..wo {
                for c in 0..s.c {
                    let o = ((n * ho + yo) * wo + xo) * s.c + c;
                    let q = arg[o] as usize;
                    let iy = yo * s.stride + q / s.k - s.pad;
                    let ix = xo * s.stride + q % s.k - s.pad;
                    dx[((n * s.h + iy) * s.w + ix) * s.c + c] += dy[o].into();
                }
            }
        }
    }
    dx
}
