//! The residual add of a ResNet block with its shortcut (`residual.wgsl`): identity, or
//! PyTorch's option A (subsample by the stride, zero-pad the channels), and the ReLU after
//! the add. The branch's own gradient, dy gated by the output, is what the BatchNorm before
//! the add takes as its mask (`super::batchnorm`); here only the shortcut's share of dx.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/residual/residual.wgsl");

/// A block's input and output shapes, which fix its shortcut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortcut {
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub hin: usize,
    /// Input width.
    pub win: usize,
    /// Output channels (cin, or cin plus zero channels split evenly on both sides).
    pub cout: usize,
    /// Subsampling of the input (1: same size).
    pub stride: usize,
}

impl Shortcut {
    /// Output height and width.
    pub fn out_hw(&self) -> (usize, usize) {
        (
            self.hin.div_ceil(self.stride),
            self.win.div_ceil(self.stride),
        )
    }

    /// Elements of the input and of the output.
    pub fn lens(&self) -> (usize, usize) {
        let (ho, wo) = self.out_hw();
        (
            self.n * self.hin * self.win * self.cin,
            self.n * ho * wo * self.cout,
        )
    }

    /// Zero channels on each side.
    pub fn pad(&self) -> usize {
        (self.cout - self.cin) / 2
    }

    fn check(&self, op: &'static str) -> Result<()> {
        let ok = self.n > 0
            && self.stride > 0
            && self.cin > 0
            && self.cout >= self.cin
            && (self.cout - self.cin).is_multiple_of(2)
            && self.cin.is_multiple_of(4)
            && self.pad().is_multiple_of(4);
        if !ok {
            return Err(Error::shape(
                op,
                format!(
                    "no shortcut for {self:?}: channels in 4s, the output's extra channels \
                     split evenly in 4s on both sides"
                ),
            ));
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ResidualParams {
    n: u32,
    ho: u32,
    wo: u32,
    c4: u32,
    hi: u32,
    wi: u32,
    ci4: u32,
    stride: u32,
    padq: u32,
    _pad: [u32; 3],
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    let l = uniform_layout!(
        "residual",
        SRC,
        "Params",
        ResidualParams {
            n,
            ho,
            wo,
            c4,
            hi,
            wi,
            ci4,
            stride,
            padq,
            _pad
        }
    );
    vec![l.replicated()]
}

fn launch(
    gpu: &Gpu,
    (op, s, relu): (&'static str, Shortcut, bool),
    views: [View<'_>; 3],
    count: usize,
) -> Result<Dispatch> {
    s.check(op)?;
    if views
        .iter()
        .any(|v| v.offset != 0 || !v.stride.is_multiple_of(4))
    {
        return Err(Error::shape(op, "operands must be whole vec4 buffers"));
    }
    let (ho, wo) = s.out_hw();
    let p = ResidualParams {
        n: as_u32(op, "n", s.n)?,
        ho: ho as u32,
        wo: wo as u32,
        c4: as_u32(op, "cout", s.cout / 4)?,
        hi: as_u32(op, "h", s.hin)?,
        wi: as_u32(op, "w", s.win)?,
        ci4: as_u32(op, "cin", s.cin / 4)?,
        stride: as_u32(op, "stride", s.stride)?,
        padq: (s.pad() / 4) as u32,
        _pad: [0; 3],
    };
    let reps: Vec<_> = views.iter().map(|v| v.rep()).collect();
    build(
        gpu,
        Launch {
            label: "residual",
            source: SRC,
            entry: op,
            constants: &[("RELU", relu as u8 as f64)],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(op, &reps)?),
            bindings: &views.map(|v| Bind::Buf(&v.buf.buffer)),
            groups: grid_1d(gpu, as_u32(op, "groups", count.div_ceil(4 * 256))?),
        },
    )
}

/// Prepare y = a + S(x), then max(y, 0) when `relu`.
pub fn prepare_forward(
    gpu: &Gpu,
    s: Shortcut,
    relu: bool,
    (a, x, y): (View<'_>, View<'_>, View<'_>),
) -> Result<Dispatch> {
    let (inp, out) = s.lens();
    a.expect_len("residual_forward", "a", out)?;
    x.expect_len("residual_forward", "x", inp)?;
    y.expect_len("residual_forward", "y", out)?;
    launch(gpu, ("residual_forward", s, relu), [a, x, y], out)
}

/// Prepare `dx += Sᵀ(dy · [y > 0])` (without the gate when the add had no ReLU).
pub fn prepare_backward(
    gpu: &Gpu,
    s: Shortcut,
    relu: bool,
    (dy, y, dx): (View<'_>, View<'_>, View<'_>),
) -> Result<Dispatch> {
    let (inp, out) = s.lens();
    dy.expect_len("shortcut_backward", "dy", out)?;
    y.expect_len("shortcut_backward", "y", out)?;
    dx.expect_len("shortcut_backward", "dx", inp)?;
    launch(gpu, ("shortcut_backward", s, relu), [dy, y, dx], inp)
}

/// f64 reference of S(x) on pixel-major tensors.
pub fn reference_shortcut<T: Copy + Into<f64>>(s: Shortcut, x: &[T]) -> Vec<f64> {
    let (ho, wo) = s.out_hw();
    let mut out = vec![0.0; s.lens().1];
    for n in 0..s.n {
        for oy in 0..ho {
            for ox in 0..wo {
                let ip = (n * s.hin + oy * s.stride) * s.win + ox * s.stride;
                let op = (n * ho + oy) * wo + ox;
                for c in 0..s.cin {
                    out[op * s.cout + s.pad() + c] = x[ip * s.cin + c].into();
                }
            }
        }
    }
    out
}

/// f64 reference of the shortcut's backward: Sᵀ(g), S's adjoint.
pub fn reference_shortcut_backward<T: Copy + Into<f64>>(s: Shortcut, g: &[T]) -> Vec<f64> {
    let (ho, wo) = s.out_hw();
    let mut dx = vec![0.0; s.lens().0];
    for n in 0..s.n {
        for oy in 0..ho {
            for ox in 0..wo {
                let ip = (n * s.hin + oy * s.stride) * s.win + ox * s.stride;
                let op = (n * ho + oy) * wo + ox;
                for c in 0..s.cin {
                    dx[ip * s.cin + c] = g[op * s.cout + s.pad() + c].into();
                }
            }
        }
    }
    dx
}
