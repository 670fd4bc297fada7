//! SGD with momentum, weight decay and Nesterov, PyTorch semantics, and the look-ahead that
//! says where such a step would move (`prelude.wgsl` with `sgd.wgsl`, the storage form, or
//! `sgd_tex.wgsl`, the texture form for CPU rasterisers); their f64 references are in
//! `reference.rs`.
//!
//! A prepared step owns its uniform buffer; [`SgdStep::set`] rewrites it before each step
//! (the learning rate follows a schedule, and the first step initialises the momentum buffer).

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

mod hyper;
mod reference;
pub use hyper::SgdHyper;
pub use reference::{reference_lookahead, reference_step};

use super::choice::VectorForm;
use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, build, grid_1d, uniform};
use super::layout::{UniformLayout, uniform_layout};
use super::norm;
use super::textures::texture_copies;
use super::view::{View, same_whole};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};

const STORAGE_SRC: &str = concat!(
    crate::wgsl!("kernels/decay.wgsl"),
    crate::wgsl!("kernels/sgd/prelude.wgsl"),
    crate::wgsl!("kernels/sgd/sgd.wgsl")
);
const TEXTURE_SRC: &str = concat!(
    crate::wgsl!("kernels/decay.wgsl"),
    crate::wgsl!("kernels/sgd/prelude.wgsl"),
    crate::wgsl!("kernels/sgd/sgd_tex.wgsl")
);

/// The uniform block of every entry (WGSL `Params` in prelude.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SgdParams {
    n: u32,
    first: u32,
    nesterov: u32,
    masked: u32,
    lr: f32,
    mu: f32,
    wd: f32,
    _pad2: f32,
    ca: f32,
    cb: f32,
    _pad3: [f32; 2],
    look_nesterov: u32,
    look_lr: f32,
    look_mu: f32,
    look_wd: f32,
}

/// The look-ahead hyper-parameters of a fused step, the tail of [`SgdParams`].
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LookParams {
    look_nesterov: u32,
    look_lr: f32,
    look_mu: f32,
    look_wd: f32,
}

/// The uniform layouts of both forms, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    [STORAGE_SRC, TEXTURE_SRC]
        .map(|src| {
            uniform_layout!(
                "sgd",
                src,
                "Params",
                SgdParams {
                    n,
                    first,
                    nesterov,
                    masked,
                    lr,
                    mu,
                    wd,
                    _pad2,
                    ca,
                    cb,
                    _pad3,
                    look_nesterov,
                    look_lr,
                    look_mu,
                    look_wd,
                }
            )
        })
        .into()
}

impl SgdParams {
    /// `lambda` weighs the second gradient (0: the first gradient alone); `masked` says
    /// whether weight decay's mask is read.
    fn new(n: u32, hyper: SgdHyper, first: bool, lambda: f32, masked: bool) -> SgdParams {
        SgdParams {
            n,
            first: first as u32,
            nesterov: hyper.nesterov as u32,
            masked: masked as u32,
            lr: hyper.lr,
            mu: hyper.momentum,
            wd: hyper.weight_decay,
            ca: 1.0 - lambda,
            cb: lambda,
            ..bytemuck::Zeroable::zeroed()
        }
    }
}

/// The vectors one entry point touches: gradients g_a and g_b (either may be absent), x, the
/// momentum buffer, y (absent when the entry does not write it), the partial sums of ‖x‖²
/// (which the step entries write, the look-ahead not) and weight decay's mask (see
/// `decay::binding`).
struct Vectors<'a> {
    g_a: Option<View<'a>>,
    g_b: View<'a>,
    x: View<'a>,
    momentum: View<'a>,
    y: Option<View<'a>>,
    sq: Option<&'a GpuBuf<f32>>,
    decay: &'a GpuBuf<u32>,
}

/// A buffer binding of `view`'s buffer.
fn buf<'a>(view: &View<'a>) -> Bind<'a> {
    Bind::Buf(&view.buf.buffer)
}

/// Build `entry` of the form `form` asks for over `v`, through `params`: the texture form
/// when asked for and the vectors lie in whole texture rows, else the storage form. The step
/// entries (with g_a) write x and buf; the look-ahead only reads them.
fn launch(
    gpu: &Gpu,
    form: VectorForm,
    entry: &'static str,
    v: &Vectors<'_>,
    params: &wgpu::Buffer,
) -> Result<Dispatch> {
    let n = v.x.len as u32;
    let step = v.g_a.is_some();
    let y = v.y.as_ref().map_or(Bind::Unused, buf);
    let sq = v.sq.map_or(Bind::Unused, |b| Bind::Buf(&b.buffer));
    let decay = Bind::Buf(&v.decay.buffer);
    let read = [v.g_a.unwrap_or(v.g_b), v.g_b, v.x, v.momentum];
    let copies = match form {
        VectorForm::Texture => texture_copies(gpu, n, &read)?,
        VectorForm::Storage => None,
    };
    let (source, copy, bindings) = match &copies {
        Some((copy, t)) => {
            let written = |view| if step { buf(view) } else { Bind::Unused };
            let ga = if step { Bind::Tex(&t[0]) } else { Bind::Unused };
            let b = vec![
                Bind::Unused,
                Bind::Unused,
                written(&v.x),
                written(&v.momentum),
                y,
                ga,
                Bind::Tex(&t[1]),
                Bind::Tex(&t[2]),
                Bind::Tex(&t[3]),
                sq,
                decay,
            ];
            (TEXTURE_SRC, copy.clone(), b)
        }
        None => {
            let ga = v.g_a.as_ref().map_or(Bind::Unused, buf);
            let u = || Bind::Unused;
            let (gb, x, m) = (buf(&v.g_b), buf(&v.x), buf(&v.momentum));
            let b = vec![ga, gb, x, m, y, u(), u(), u(), u(), sq, decay];
            (STORAGE_SRC, Dispatch::empty(), b)
        }
    };
    Ok(copy.then(build(
        gpu,
        Launch {
            label: if copies.is_some() { "sgd_tex" } else { "sgd" },
            source,
            entry,
            constants: &[],
            params: Params::Buffer(params),
            replicas: None,
            bindings: &bindings,
            // The step entries run the norm's first-stage grid (see prelude.wgsl).
            groups: match v.sq {
                Some(_) => [norm::partial_groups(gpu, n as usize) as u32, 1, 1],
                None => grid_1d(gpu, n.div_ceil(1024)),
            },
        },
    )?))
}

/// A prepared SGD step over one flat parameter vector. It also leaves the partial sums of the
/// new x's squared norm ([`SgdStep::squares`]).
#[derive(Debug)]
pub struct SgdStep {
    /// The step's dispatch; record it after [`SgdStep::set`].
    pub dispatch: Dispatch,
    params: wgpu::Buffer,
    n: u32,
    /// Whether the step reads weight decay's mask.
    masked: bool,
    /// The partial sums of ‖x‖² the step writes, one per invocation.
    squares: GpuBuf<f32>,
}

impl SgdStep {
    /// Prepare x ← step(x, g, buf) with g = (1 − λ)·g_a + λ·g_b (λ set per step; g_b is read
    /// only when λ ≠ 0). All views have the same length; `g_b` may be `g_a`. With `decay`,
    /// weight decay applies only to the elements its bits mark (`super::decay`).
    pub fn prepare(
        gpu: &Gpu,
        form: VectorForm,
        [g_a, g_b]: [View<'_>; 2],
        (x, momentum): (View<'_>, View<'_>),
        decay: Option<&GpuBuf<u32>>,
    ) -> Result<SgdStep> {
        Self::build(gpu, form, [g_a, g_b], (x, momentum, decay), None)
    }

    /// [`SgdStep::prepare`], the same dispatch then also writing SAMPa's next look-ahead point
    /// y ← x' − lr'·direction(g_b, x', buf') from the step's results, with the hyper-parameters
    /// of [`SgdStep::set_lookahead`]: what [`Lookahead`] would compute after the step with g_b
    /// as its gradient, bit for bit, without reading x, buf and g_b a second time.
    pub fn prepare_with_lookahead(
        gpu: &Gpu,
        form: VectorForm,
        grads: [View<'_>; 2],
        (x, momentum): (View<'_>, View<'_>),
        decay: Option<&GpuBuf<u32>>,
        y: View<'_>,
    ) -> Result<SgdStep> {
        Self::build(gpu, form, grads, (x, momentum, decay), Some(y))
    }

    fn build(
        gpu: &Gpu,
        form: VectorForm,
        [g_a, g_b]: [View<'_>; 2],
        (x, momentum, decay): (View<'_>, View<'_>, Option<&GpuBuf<u32>>),
        y: Option<View<'_>>,
    ) -> Result<SgdStep> {
        const OP: &str = "sgd_step";
        let n = same_whole(OP, &[x, g_a, g_b, momentum])?;
        if let Some(y) = y {
            distinct_y(OP, y, &[g_a, g_b, x, momentum])?;
        }
        let (decay, masked) = super::decay::binding(gpu, OP, n as usize, decay)?;
        let params = uniform(gpu, "sgd params", &[0u8; std::mem::size_of::<SgdParams>()]);
        let entry = if y.is_some() {
            "sgd_step_look"
        } else {
            "sgd_step"
        };
        let groups = norm::partial_groups(gpu, n as usize);
        let squares = gpu.zeros::<f32>(256 * groups, "sgd step's norm partial sums")?;
        let vectors = Vectors {
            g_a: Some(g_a),
            g_b,
            x,
            momentum,
            y,
            sq: Some(&squares),
            decay: &decay,
        };
        let dispatch = launch(gpu, form, entry, &vectors, &params)?;
        Ok(SgdStep {
            dispatch,
            params,
            n,
            masked,
            squares,
        })
    }

    /// The partial sums of ‖x‖² the last recorded step left, one per invocation: the norm's
    /// first-stage sums over the new x (see prelude.wgsl), which its final stage, or the host,
    /// adds up.
    pub fn squares(&self) -> &GpuBuf<f32> {
        &self.squares
    }

    /// Set the hyper-parameters of the next recorded step; `first` marks step 0, and `lambda`
    /// is the weight of the second gradient.
    pub fn set(&self, gpu: &Gpu, hyper: SgdHyper, first: bool, lambda: f32) {
        let p = SgdParams::new(self.n, hyper, first, lambda, self.masked);
        let head = std::mem::offset_of!(SgdParams, look_nesterov);
        gpu.queue
            .write_buffer(&self.params, 0, &bytemuck::bytes_of(&p)[..head]);
    }

    /// Set the hyper-parameters of the look-ahead a step prepared with
    /// [`SgdStep::prepare_with_lookahead`] computes (as [`Lookahead::set`] with `first` false).
    pub fn set_lookahead(&self, gpu: &Gpu, hyper: SgdHyper) {
        let p = LookParams {
            look_nesterov: hyper.nesterov as u32,
            look_lr: hyper.lr,
            look_mu: hyper.momentum,
            look_wd: hyper.weight_decay,
        };
        let at = std::mem::offset_of!(SgdParams, look_nesterov) as u64;
        gpu.queue
            .write_buffer(&self.params, at, bytemuck::bytes_of(&p));
    }
}

fn distinct_y(op: &'static str, y: View<'_>, others: &[View<'_>]) -> Result<()> {
    if others.iter().any(|v| v.buf.buffer == y.buf.buffer) {
        return Err(Error::shape(op, "y must be a buffer of its own"));
    }
    Ok(())
}

/// A prepared look-ahead y = x − lr·d, d being the direction [`SgdStep`] would take with
/// gradient `g` from the current momentum buffer; nothing but `y` is written.
#[derive(Debug)]
pub struct Lookahead {
    /// The dispatch; record it after [`Lookahead::set`].
    pub dispatch: Dispatch,
    params: wgpu::Buffer,
    n: u32,
    masked: bool,
}

impl Lookahead {
    /// Prepare y ← x − lr·direction(g, x, buf). All four are whole buffers of one length;
    /// `decay` as [`SgdStep::prepare`]'s.
    pub fn prepare(
        gpu: &Gpu,
        form: VectorForm,
        g: View<'_>,
        (x, momentum, decay): (View<'_>, View<'_>, Option<&GpuBuf<u32>>),
        y: View<'_>,
    ) -> Result<Lookahead> {
        const OP: &str = "lookahead";
        let n = same_whole(OP, &[x, g, momentum, y])?;
        distinct_y(OP, y, &[g, x, momentum])?;
        let (decay, masked) = super::decay::binding(gpu, OP, n as usize, decay)?;
        let params = uniform(
            gpu,
            "lookahead params",
            &[0u8; std::mem::size_of::<SgdParams>()],
        );
        let vectors = Vectors {
            g_a: None,
            g_b: g,
            x,
            momentum,
            y: Some(y),
            sq: None,
            decay: &decay,
        };
        let dispatch = launch(gpu, form, "lookahead", &vectors, &params)?;
        Ok(Lookahead {
            dispatch,
            params,
            n,
            masked,
        })
    }

    /// Set the hyper-parameters of the next recorded look-ahead; `first` means no momentum
    /// buffer exists yet.
    pub fn set(&self, gpu: &Gpu, hyper: SgdHyper, first: bool) {
        let p = SgdParams::new(self.n, hyper, first, 0.0, self.masked);
        gpu.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
    }
}
