//! SGD with momentum, weight decay and Nesterov, PyTorch semantics, and the look-ahead that
//! says where such a step would move (both in `shaders/sgd.wgsl`).
//!
//! A prepared step owns its uniform buffer; [`SgdStep::set`] rewrites it before each step
//! (the learning rate follows a schedule, and the first step initialises the momentum buffer).

use super::{
    Bind, Dispatch, Launch, Params, View, as_u32, build, grid_1d, texture_copies, uniform,
};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = include_str!("../../shaders/sgd.wgsl");

/// SGD hyper-parameters for one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdHyper {
    /// Learning rate.
    pub lr: f32,
    /// Momentum factor (0 for plain SGD).
    pub momentum: f32,
    /// Weight decay (L2, added to the gradient).
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SgdParams {
    n: u32,
    first: u32,
    nesterov: u32,
    _pad: u32,
    lr: f32,
    mu: f32,
    wd: f32,
    _pad2: f32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MixParams {
    sgd: SgdParams,
    ca: f32,
    cb: f32,
    _pad: [f32; 2],
}

/// The size of every sgd.wgsl entry's uniform block.
const PARAMS_BYTES: usize = std::mem::size_of::<MixParams>() + std::mem::size_of::<LookParams>();

/// The look-ahead hyper-parameters of a fused step, after [`MixParams`] in its uniform block.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LookParams {
    nesterov: u32,
    lr: f32,
    mu: f32,
    wd: f32,
}

impl MixParams {
    /// `lambda` weighs the second gradient (0: the first gradient alone).
    fn new(n: u32, hyper: SgdHyper, first: bool, lambda: f32) -> MixParams {
        MixParams {
            sgd: SgdParams {
                n,
                first: first as u32,
                nesterov: hyper.nesterov as u32,
                _pad: 0,
                lr: hyper.lr,
                mu: hyper.momentum,
                wd: hyper.weight_decay,
                _pad2: 0.0,
            },
            ca: 1.0 - lambda,
            cb: lambda,
            _pad: [0.0; 2],
        }
    }
}

/// Check that every view has the positive length of the first and is a whole buffer.
fn same_whole(op: &'static str, views: &[View<'_>]) -> Result<u32> {
    let n = views[0].len;
    if n == 0 || views.iter().any(|v| v.len != n) {
        let lens: Vec<usize> = views.iter().map(|v| v.len).collect();
        return Err(Error::shape(
            op,
            format!("the vectors must have one positive length, got {lens:?}"),
        ));
    }
    if views.iter().any(|v| v.offset != 0) {
        return Err(Error::shape(op, "every vector must be a whole buffer"));
    }
    as_u32(op, "n", n)
}

/// A prepared SGD step over one flat parameter vector.
#[derive(Debug)]
pub struct SgdStep {
    /// The step's dispatch; record it after [`SgdStep::set`].
    pub dispatch: Dispatch,
    params: wgpu::Buffer,
    n: u32,
}

impl SgdStep {
    /// Prepare x ← step(x, g, buf) with g = (1 − λ)·g1 + λ·g2 (λ set per step; g2 is read only
    /// when λ ≠ 0). All views have the same length; `g2` may be `g1`.
    pub fn prepare(
        gpu: &Gpu,
        grads: [View<'_>; 2],
        x: View<'_>,
        momentum: View<'_>,
    ) -> Result<SgdStep> {
        Self::build(gpu, grads, x, momentum, None)
    }

    /// [`SgdStep::prepare`], the same dispatch then also writing SAMPa's next look-ahead point
    /// y ← x' − lr'·direction(g2, x', buf') from the step's results, with the hyper-parameters
    /// of [`SgdStep::set_lookahead`]: what [`Lookahead`] would compute after the step with g2
    /// as its gradient, bit for bit, without reading x, buf and g2 a second time.
    pub fn prepare_with_lookahead(
        gpu: &Gpu,
        grads: [View<'_>; 2],
        x: View<'_>,
        momentum: View<'_>,
        y: View<'_>,
    ) -> Result<SgdStep> {
        Self::build(gpu, grads, x, momentum, Some(y))
    }

    fn build(
        gpu: &Gpu,
        [g1, g2]: [View<'_>; 2],
        x: View<'_>,
        momentum: View<'_>,
        y: Option<View<'_>>,
    ) -> Result<SgdStep> {
        const OP: &str = "sgd_step";
        let n = same_whole(OP, &[x, g1, g2, momentum])?;
        if let Some(y) = y {
            same_whole(OP, &[x, y])?;
            let y_buf = &y.buf.buffer;
            if [
                &g1.buf.buffer,
                &g2.buf.buffer,
                &x.buf.buffer,
                &momentum.buf.buffer,
            ]
            .contains(&y_buf)
            {
                return Err(Error::shape(OP, "y must be a buffer of its own"));
            }
        }
        let params = uniform(gpu, "sgd params", &[0u8; PARAMS_BYTES]);
        let groups = grid_1d(gpu, n.div_ceil(1024));
        let launch = |entry, bindings: &[Bind<'_>]| {
            build(
                gpu,
                Launch {
                    label: "sgd",
                    source: SRC,
                    entry,
                    constants: &[],
                    params: Params::Buffer(&params),
                    replicas: None,
                    bindings,
                    groups,
                },
            )
        };
        let (x_buf, m_buf) = (&x.buf.buffer, &momentum.buf.buffer);
        let dispatch = if let Some((copies, t)) = texture_copies(gpu, n, &[g1, g2, x, momentum])? {
            let mut bindings = vec![
                Bind::Tex(&t[0]),
                Bind::Tex(&t[1]),
                Bind::Buf(x_buf),
                Bind::Buf(m_buf),
                Bind::Tex(&t[2]),
                Bind::Tex(&t[3]),
            ];
            let entry = match &y {
                Some(y) => {
                    bindings.push(Bind::Buf(&y.buf.buffer));
                    "sgd_step_look_tex"
                }
                None => "sgd_step_tex",
            };
            copies.then(launch(entry, &bindings)?)
        } else {
            let mut bindings = vec![
                Bind::Buf(&g1.buf.buffer),
                Bind::Buf(&g2.buf.buffer),
                Bind::Buf(x_buf),
                Bind::Buf(m_buf),
            ];
            let entry = match &y {
                Some(y) => {
                    bindings.push(Bind::Buf(&y.buf.buffer));
                    "sgd_step_look"
                }
                None => "sgd_step",
            };
            launch(entry, &bindings)?
        };
        Ok(SgdStep {
            dispatch,
            params,
            n,
        })
    }

    /// Set the hyper-parameters of the next recorded step; `first` marks step 0, and `lambda`
    /// is the weight of the second gradient.
    pub fn set(&self, gpu: &Gpu, hyper: SgdHyper, first: bool, lambda: f32) {
        let p = MixParams::new(self.n, hyper, first, lambda);
        gpu.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
    }

    /// Set the hyper-parameters of the look-ahead a step prepared with
    /// [`SgdStep::prepare_with_lookahead`] computes (as [`Lookahead::set`] with `first` false).
    pub fn set_lookahead(&self, gpu: &Gpu, hyper: SgdHyper) {
        let p = LookParams {
            nesterov: hyper.nesterov as u32,
            lr: hyper.lr,
            mu: hyper.momentum,
            wd: hyper.weight_decay,
        };
        let at = std::mem::size_of::<MixParams>() as u64;
        gpu.queue
            .write_buffer(&self.params, at, bytemuck::bytes_of(&p));
    }
}

/// A prepared look-ahead y = x − lr·d, d being the direction [`SgdStep`] would take with
/// gradient `g` from the current momentum buffer; nothing but `y` is written.
#[derive(Debug)]
pub struct Lookahead {
    /// The dispatch; record it after [`Lookahead::set`].
    pub dispatch: Dispatch,
    params: wgpu::Buffer,
    n: u32,
}

impl Lookahead {
    /// Prepare y ← x − lr·direction(g, x, buf). All four are whole buffers of one length.
    pub fn prepare(
        gpu: &Gpu,
        g: View<'_>,
        x: View<'_>,
        momentum: View<'_>,
        y: View<'_>,
    ) -> Result<Lookahead> {
        const OP: &str = "lookahead";
        let n = same_whole(OP, &[x, g, momentum, y])?;
        let y_buf = &y.buf.buffer;
        if [&g.buf.buffer, &x.buf.buffer, &momentum.buf.buffer].contains(&y_buf) {
            return Err(Error::shape(OP, "y must be a buffer of its own"));
        }
        let params = uniform(gpu, "lookahead params", &[0u8; PARAMS_BYTES]);
        let groups = grid_1d(gpu, n.div_ceil(1024));
        let launch = |entry, bindings: &[Bind<'_>]| {
            build(
                gpu,
                Launch {
                    label: "sgd",
                    source: SRC,
                    entry,
                    constants: &[],
                    params: Params::Buffer(&params),
                    replicas: None,
                    bindings,
                    groups,
                },
            )
        };
        let dispatch = match texture_copies(gpu, n, &[g, x, momentum])? {
            Some((copies, t)) => copies.then(launch(
                "lookahead_tex",
                &[
                    Bind::Tex(&t[0]),
                    Bind::Tex(&t[1]),
                    Bind::Tex(&t[2]),
                    Bind::Buf(y_buf),
                ],
            )?),
            None => launch(
                "lookahead",
                &[
                    Bind::Buf(&g.buf.buffer),
                    Bind::Buf(&x.buf.buffer),
                    Bind::Buf(&momentum.buf.buffer),
                    Bind::Buf(y_buf),
                ],
            )?,
        };
        Ok(Lookahead {
            dispatch,
            params,
            n,
        })
    }

    /// Set the hyper-parameters of the next recorded look-ahead; `first` means no momentum
    /// buffer exists yet.
    pub fn set(&self, gpu: &Gpu, hyper: SgdHyper, first: bool) {
        let p = MixParams::new(self.n, hyper, first, 0.0);
        gpu.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
    }
}

/// CPU f64 reference of one step, updating `x` and `buf` in place.
pub fn reference_step(hyper: SgdHyper, first: bool, grad: &[f64], x: &mut [f64], buf: &mut [f64]) {
    let (lr, mu, wd) = (
        hyper.lr as f64,
        hyper.momentum as f64,
        hyper.weight_decay as f64,
    );
    for i in 0..x.len() {
        let d = grad[i] + wd * x[i];
        buf[i] = if first { d } else { mu * buf[i] + d };
        let step = if hyper.nesterov {
            d + mu * buf[i]
        } else {
            buf[i]
        };
        x[i] -= lr * step;
    }
}

/// CPU f64 reference of the look-ahead: where [`reference_step`] would move `x`.
pub fn reference_lookahead(
    hyper: SgdHyper,
    first: bool,
    grad: &[f64],
    x: &[f64],
    buf: &[f64],
) -> Vec<f64> {
    let (mut y, mut b) = (x.to_vec(), buf.to_vec());
    reference_step(hyper, first, grad, &mut y, &mut b);
    y
}
