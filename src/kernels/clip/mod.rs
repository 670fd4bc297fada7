//! Clipping the base step's gradient by its global norm (`clip.wgsl`), as
//! `torch.nn.utils.clip_grad_norm_`: the mixed gradient is written to a vector of its own, its
//! norm computed there, and it is scaled by min(1, C / (‖g‖ + 1e-6)). The f64 reference is
//! [`reference()`].

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::choice::VectorForm;
use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::norm;
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};

const SRC: &str = crate::wgsl!("kernels/clip/clip.wgsl");

/// The uniform block of both entries (WGSL `Params` in clip.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ClipParams {
    n: u32,
    ca: f32,
    cb: f32,
    max_norm: f32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![uniform_layout!(
        "clip",
        SRC,
        "Params",
        ClipParams {
            n,
            ca,
            cb,
            max_norm
        }
    )]
}

/// A prepared clip: g ← clip((1 − λ)·a + λ·b) in three dispatches (mix, norm, scale). λ and
/// the bound are a run's settings, so they are fixed when it is prepared.
#[derive(Debug)]
pub struct Clip {
    /// The dispatches; record them before the base step.
    pub dispatch: Dispatch,
    norm_sq: GpuBuf<f32>,
}

impl Clip {
    /// Prepare g ← (1 − λ)·a + λ·b, scaled down to norm `max_norm` when longer. `g` is a whole
    /// buffer of its own; `b` may be `a`.
    pub fn prepare(
        gpu: &Gpu,
        [a, b]: [View<'_>; 2],
        g: View<'_>,
        (lambda, max_norm): (f32, f32),
    ) -> Result<Clip> {
        const OP: &str = "clip";
        let n = a.len;
        if n == 0 || [b, g].iter().any(|v| v.len != n) || [a, b, g].iter().any(|v| v.offset != 0) {
            return Err(Error::shape(
                OP,
                format!(
                    "the gradients and the clipped gradient must be whole buffers of one \
                     positive length, got {}, {} and {}",
                    a.len, b.len, g.len
                ),
            ));
        }
        if [a, b].iter().any(|v| v.buf.buffer == g.buf.buffer) {
            return Err(Error::shape(
                OP,
                "the clipped gradient needs a buffer of its own",
            ));
        }
        let params = ClipParams {
            n: as_u32(OP, "n", n)?,
            ca: 1.0 - lambda,
            cb: lambda,
            max_norm,
        };
        let norm_sq = gpu.zeros::<f32>(1, "clipped gradient's squared norm")?;
        let launch = |entry: &'static str, bindings: &[Bind<'_>]| {
            build(
                gpu,
                Launch {
                    label: "clip",
                    source: SRC,
                    entry,
                    constants: &[],
                    params: Params::Bytes(bytemuck::bytes_of(&params)),
                    replicas: None,
                    bindings,
                    groups: grid_1d(gpu, params.n.div_ceil(256)),
                },
            )
        };
        let (ab, bb, gb) = (&a.buf.buffer, &b.buf.buffer, &g.buf.buffer);
        let mix = launch(
            "mix",
            &[Bind::Buf(ab), Bind::Buf(bb), Bind::Buf(gb), Bind::Unused],
        )?;
        let s = &norm_sq.buffer;
        let scale = launch(
            "scale",
            &[Bind::Unused, Bind::Unused, Bind::Buf(gb), Bind::Buf(s)],
        )?;
        let sum = norm::prepare(gpu, VectorForm::Storage, g, norm_sq.view())?;
        Ok(Clip {
            dispatch: mix.then(sum).then(scale),
            norm_sq,
        })
    }

    /// The squared norm of the last recorded clip's gradient, before scaling.
    pub fn norm_sq(&self) -> &GpuBuf<f32> {
        &self.norm_sq
    }
}

/// The f64 reference: `g` scaled in place by min(1, C / (‖g‖ + 1e-6)); returns whether it
/// was scaled down (‖g‖ + 1e-6 > C).
pub fn reference(max_norm: f32, g: &mut [f64]) -> bool {
    let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let coef = max_norm as f64 / (norm + 1e-6);
    if coef < 1.0 {
        g.iter_mut().for_each(|v| *v *= coef);
    }
    coef < 1.0
}
