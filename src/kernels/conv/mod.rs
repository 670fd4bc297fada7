//! Convolutions in two forms. Here, im2col and col2im for strided convolutions with zero
//! padding (`conv.wgsl`): a convolution is then `cols · Wᵀ` (one matmul with the
//! `[O, C·k·k]` weight), its weight gradient `dYᵀ · cols`, and its input gradient
//! col2im(`dY · W`); the form of the workgroup-tiled products. In [`implicit`], the
//! convolution as an implicit GEMM that reads its patches from the activations ([`image`]),
//! with any stride, for the register (texture) products.

mod geometry;
pub mod image;
pub mod implicit;
mod pack;
pub mod reference;
pub mod weight_grad;

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod implicit_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/conv/conv.wgsl");

/// Geometry of a convolution's input and kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel side.
    pub k: usize,
    /// Zero padding on each side.
    pub pad: usize,
    /// Step between output pixels, in input pixels.
    pub stride: usize,
}

/// How the input batch is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputLayout {
    /// `[N, C, H, W]` (data batches).
    Nchw,
    /// `[N, H, W, C]` (activations of conv layers).
    PixelMajor,
}

impl ConvShape {
    /// Output height and width.
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.k) / self.stride + 1,
            (self.w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }

    /// Rows of the column matrix (output pixels).
    pub fn rows(&self) -> usize {
        let (ho, wo) = self.out_hw();
        self.n * ho * wo
    }

    /// Columns of the column matrix (`C·k·k`).
    pub fn cols(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Elements of the input.
    pub fn input_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }

    fn strides(&self, layout: InputLayout) -> (usize, usize, usize) {
        let hw = self.h * self.w;
        match layout {
            InputLayout::Nchw => (self.c * hw, 1, hw),
            InputLayout::PixelMajor => (hw * self.c, self.c, 1),
        }
    }

    fn check(&self, op: &'static str) -> Result<()> {
        if self.n == 0
            || self.c == 0
            || self.k == 0
            || self.stride == 0
            || self.h + 2 * self.pad < self.k
            || self.w + 2 * self.pad < self.k
        {
            return Err(Error::shape(
                op,
                format!("invalid convolution geometry {self:?}"),
            ));
        }
        if self.pad >= self.k {
            return Err(Error::shape(
                op,
                format!(
                    "padding {} must be smaller than the kernel {}",
                    self.pad, self.k
                ),
            ));
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ConvParams {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    k: u32,
    pad: u32,
    sn: u32,
    sp: u32,
    sc: u32,
    ho: u32,
    wo: u32,
    stride: u32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    let l = uniform_layout!(
        "conv",
        SRC,
        "Params",
        ConvParams {
            n,
            c,
            h,
            w,
            k,
            pad,
            sn,
            sp,
            sc,
            ho,
            wo,
            stride,
        }
    );
    let mut all = vec![l.replicated()];
    all.extend(implicit::uniform_layouts());
    all.extend(weight_grad::uniform_layouts());
    all.extend(image::uniform_layouts());
    all
}

fn launch(
    gpu: &Gpu,
    op: &'static str,
    s: ConvShape,
    layout: InputLayout,
    src: View<'_>,
    dst: View<'_>,
    count: usize,
) -> Result<Dispatch> {
    s.check(op)?;
    if src.offset != 0 || dst.offset != 0 || src.buf.buffer == dst.buf.buffer {
        return Err(Error::shape(
            op,
            "source and destination must be distinct whole buffers",
        ));
    }
    let (sn, sp, sc) = s.strides(layout);
    let (ho, wo) = s.out_hw();
    let p = ConvParams {
        n: as_u32(op, "n", s.n)?,
        c: as_u32(op, "c", s.c)?,
        h: as_u32(op, "h", s.h)?,
        w: as_u32(op, "w", s.w)?,
        k: as_u32(op, "k", s.k)?,
        pad: as_u32(op, "pad", s.pad)?,
        sn: as_u32(op, "sn", sn)?,
        sp: sp as u32,
        sc: as_u32(op, "sc", sc)?,
        ho: ho as u32,
        wo: wo as u32,
        stride: as_u32(op, "stride", s.stride)?,
    };
    build(
        gpu,
        Launch {
            label: "conv",
            source: SRC,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(op, &[src.rep(), dst.rep()])?),
            bindings: &[Bind::Buf(&src.buf.buffer), Bind::Buf(&dst.buf.buffer)],
            groups: grid_1d(gpu, as_u32(op, "groups", count.div_ceil(256))?),
        },
    )
}

/// Prepare cols = im2col(x): `[N·Ho·Wo, C·k·k]`.
pub fn prepare_im2col(
    gpu: &Gpu,
    s: ConvShape,
    layout: InputLayout,
    x: View<'_>,
    cols: View<'_>,
) -> Result<Dispatch> {
    x.expect_len("im2col", "x", s.input_len())?;
    cols.expect_len("im2col", "cols", s.rows() * s.cols())?;
    launch(gpu, "im2col", s, layout, x, cols, s.rows() * s.cols())
}

/// Prepare dx = col2im(dcols), written pixel-major `[N, H, W, C]`.
pub fn prepare_col2im(gpu: &Gpu, s: ConvShape, dcols: View<'_>, dx: View<'_>) -> Result<Dispatch> {
    dcols.expect_len("col2im", "dcols", s.rows() * s.cols())?;
    dx.expect_len("col2im", "dx", s.input_len())?;
    launch(
        gpu,
        "col2im",
        s,
        InputLayout::PixelMajor,
        dcols,
        dx,
        s.input_len(),
    )
}

/// CPU reference of im2col.
pub fn reference_im2col<T: Copy + Into<f64>>(
    s: ConvShape,
    layout: InputLayout,
    x: &[T],
) -> Vec<f64> {
    let (sn, sp, sc) = s.strides(layout);
    let (ho, wo) = s.out_hw();
    let mut out = Vec::with_capacity(s.rows() * s.cols());
    for n in 0..s.n {
        for y in 0..ho {
            for xx in 0..wo {
                for c in 0..s.c {
                    for ky in 0..s.k {
                        for kx in 0..s.k {
                            let iy = (y * s.stride + ky) as isize - s.pad as isize;
                            let ix = (xx * s.stride + kx) as isize - s.pad as isize;
                            let inside =
                                (0..s.h as isize).contains(&iy) && (0..s.w as isize).contains(&ix);
                            out.push(if inside {
                                x[n * sn + (iy as usize * s.w + ix as usize) * sp + c * sc].into()
                            } else {
                                0.0
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// CPU reference of col2im (the adjoint of im2col for a pixel-major input).
pub fn reference_col2im<T: Copy + Into<f64>>(s: ConvShape, dcols: &[T]) -> Vec<f64> {
    let (ho, wo) = s.out_hw();
    let mut dx = vec![0.0f64; s.input_len()];
    let cols = s.cols();
    for n in 0..s.n {
        for y in 0..ho {
            for xx in 0..wo {
                let r = (n * ho + y) * wo + xx;
                for c in 0..s.c {
                    for ky in 0..s.k {
                        for kx in 0..s.k {
                            let iy = (y * s.stride + ky) as isize - s.pad as isize;
                            let ix = (xx * s.stride + kx) as isize - s.pad as isize;
                            if (0..s.h as isize).contains(&iy) && (0..s.w as isize).contains(&ix) {
                                dx[((n * s.h + iy as usize) * s.w + ix as usize) * s.c + c] +=
                                    dcols[r * cols + (c * s.k + ky) * s.k + kx].into();
                            }
                        }
                    }
                }
            }
        }
    }
    dx
}
