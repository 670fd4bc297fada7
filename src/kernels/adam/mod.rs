//! Adam and AdamW, `torch.optim.Adam` and `torch.optim.AdamW` semantics (amsgrad off), and
//! the look-ahead that says where such a step would move (`adam.wgsl`, storage buffers); their
//! f64 references are in `reference.rs`.
//!
//! A prepared step owns its uniform buffer; [`AdamStep::set`] rewrites it before each step
//! (the learning rate follows a schedule and the bias corrections follow the step count).

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

mod hyper;
mod reference;
pub use hyper::AdamHyper;
pub use reference::{reference_lookahead, reference_step};

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, build, grid_1d, uniform};
use super::layout::{UniformLayout, uniform_layout};
use super::norm;
use super::view::{View, same_whole};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};

const SRC: &str = concat!(
    crate::wgsl!("kernels/decay.wgsl"),
    crate::wgsl!("kernels/adam/adam.wgsl")
);

/// The uniform block of both entries (WGSL `Params` in adam.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AdamParams {
    n: u32,
    decoupled: u32,
    bare: u32,
    masked: u32,
    lr: f32,
    wd: f32,
    b1: f32,
    b2: f32,
    eps: f32,
    step_size: f32,
    bc2_sqrt: f32,
    _pad2: f32,
    ca: f32,
    cb: f32,
    _pad3: [f32; 2],
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![uniform_layout!(
        "adam",
        SRC,
        "Params",
        AdamParams {
            n,
            decoupled,
            bare,
            masked,
            lr,
            wd,
            b1,
            b2,
            eps,
            step_size,
            bc2_sqrt,
            _pad2,
            ca,
            cb,
            _pad3,
        }
    )]
}

impl AdamParams {
    /// Step `t` (counted from 1) with `hyper`; `lambda` weighs the second gradient, and
    /// `masked` says whether weight decay's mask is read.
    fn new(n: u32, hyper: AdamHyper, t: usize, lambda: f32, masked: bool) -> AdamParams {
        let (step_size, bc2_sqrt) = hyper.corrections(t);
        AdamParams {
            n,
            decoupled: hyper.decoupled as u32,
            masked: masked as u32,
            lr: hyper.lr,
            wd: hyper.weight_decay,
            b1: hyper.betas[0],
            b2: hyper.betas[1],
            eps: hyper.eps,
            step_size,
            bc2_sqrt,
            ca: 1.0 - lambda,
            cb: lambda,
            ..bytemuck::Zeroable::zeroed()
        }
    }
}

/// Check that every view is a whole buffer of the positive length of the first, and that the
/// written ones (`written`) share no buffer with any other.
fn check(op: &'static str, views: &[View<'_>], written: &[View<'_>]) -> Result<u32> {
    let n = same_whole(op, views)?;
    for (i, w) in written.iter().enumerate() {
        let shared = views
            .iter()
            .chain(&written[i + 1..])
            .filter(|v| v.buf.buffer == w.buf.buffer)
            .count();
        // A written vector appears once among `views` (where it is read) at most.
        if shared > 1 {
            return Err(Error::shape(
                op,
                "x, the moments and y must be buffers of their own",
            ));
        }
    }
    Ok(n)
}

/// A prepared Adam or AdamW step over one flat parameter vector. It also leaves the partial
/// sums of the new x's squared norm ([`AdamStep::squares`]), as the SGD step does.
#[derive(Debug)]
pub struct AdamStep {
    /// The step's dispatch; record it after [`AdamStep::set`].
    pub dispatch: Dispatch,
    params: wgpu::Buffer,
    n: u32,
    masked: bool,
    squares: GpuBuf<f32>,
}

impl AdamStep {
    /// Prepare x ← step(x, g, m, v) with g = (1 − λ)·g_a + λ·g_b (λ set per step; g_b is read
    /// only when λ ≠ 0). All views are whole buffers of one length; `g_b` may be `g_a`. With
    /// `decay`, weight decay applies only to the elements its bits mark (`super::decay`).
    pub fn prepare(
        gpu: &Gpu,
        [g_a, g_b]: [View<'_>; 2],
        (x, [m, v]): (View<'_>, [View<'_>; 2]),
        decay: Option<&GpuBuf<u32>>,
    ) -> Result<AdamStep> {
        const OP: &str = "adam_step";
        let n = check(OP, &[x, g_a, g_b, m, v], &[x, m, v])?;
        let (decay, masked) = super::decay::binding(gpu, OP, n as usize, decay)?;
        let params = uniform(gpu, "adam params", &[0u8; size_of::<AdamParams>()]);
        let groups = norm::partial_groups(gpu, n as usize);
        let squares = gpu.zeros::<f32>(256 * groups, "adam step's norm partial sums")?;
        let bindings = [
            Bind::Buf(&g_a.buf.buffer),
            Bind::Buf(&g_b.buf.buffer),
            Bind::Buf(&x.buf.buffer),
            Bind::Buf(&m.buf.buffer),
            Bind::Buf(&v.buf.buffer),
            Bind::Unused,
            Bind::Buf(&squares.buffer),
            Bind::Buf(&decay.buffer),
        ];
        let dispatch = build(
            gpu,
            Launch {
                label: "adam",
                source: SRC,
                entry: "adam_step",
                constants: &[],
                params: Params::Buffer(&params),
                replicas: None,
                bindings: &bindings,
                // The norm's first-stage grid (see adam.wgsl).
                groups: [groups as u32, 1, 1],
            },
        )?;
        Ok(AdamStep {
            dispatch,
            params,
            n,
            masked,
            squares,
        })
    }

    /// The partial sums of ‖x‖² the last recorded step left: the norm's first-stage sums over
    /// the new x, which its final stage, or the host, adds up.
    pub fn squares(&self) -> &GpuBuf<f32> {
        &self.squares
    }

    /// Set the hyper-parameters of the next recorded step, step `t` of the run (counted from
    /// 1); `lambda` is the weight of the second gradient.
    pub fn set(&self, gpu: &Gpu, hyper: AdamHyper, t: usize, lambda: f32) {
        let p = AdamParams::new(self.n, hyper, t, lambda, self.masked);
        gpu.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
    }
}

/// A prepared look-ahead: y = where [`AdamStep`] would move x with gradient `g` from the
/// current moments, or the paper's bare x − lr·g; nothing but `y` is written.
#[derive(Debug)]
pub struct AdamLookahead {
    /// The dispatch; record it after [`AdamLookahead::set`].
    pub dispatch: Dispatch,
    params: wgpu::Buffer,
    n: u32,
    masked: bool,
}

impl AdamLookahead {
    /// Prepare y ← look-ahead(g, x, m, v). All are whole buffers of one length; `decay` as
    /// [`AdamStep::prepare`]'s.
    pub fn prepare(
        gpu: &Gpu,
        g: View<'_>,
        (x, [m, v]): (View<'_>, [View<'_>; 2]),
        decay: Option<&GpuBuf<u32>>,
        y: View<'_>,
    ) -> Result<AdamLookahead> {
        const OP: &str = "adam_lookahead";
        let n = check(OP, &[g, x, m, v, y], &[y])?;
        let (decay, masked) = super::decay::binding(gpu, OP, n as usize, decay)?;
        let params = uniform(
            gpu,
            "adam lookahead params",
            &[0u8; size_of::<AdamParams>()],
        );
        let bindings = [
            Bind::Unused,
            Bind::Buf(&g.buf.buffer),
            Bind::Buf(&x.buf.buffer),
            Bind::Buf(&m.buf.buffer),
            Bind::Buf(&v.buf.buffer),
            Bind::Buf(&y.buf.buffer),
            Bind::Unused,
            Bind::Buf(&decay.buffer),
        ];
        let dispatch = build(
            gpu,
            Launch {
                label: "adam_lookahead",
                source: SRC,
                entry: "lookahead",
                constants: &[],
                params: Params::Buffer(&params),
                replicas: None,
                bindings: &bindings,
                groups: grid_1d(gpu, n.div_ceil(1024)),
            },
        )?;
        Ok(AdamLookahead {
            dispatch,
            params,
            n,
            masked,
        })
    }

    /// Set the hyper-parameters of the next recorded look-ahead: where step `t` (counted from
    /// 1) would move x, or with `bare` the paper's x − lr·g.
    pub fn set(&self, gpu: &Gpu, hyper: AdamHyper, t: usize, bare: bool) {
        let p = AdamParams {
            bare: bare as u32,
            ..AdamParams::new(self.n, hyper, t, 0.0, self.masked)
        };
        gpu.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
    }
}
