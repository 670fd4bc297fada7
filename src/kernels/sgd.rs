//! SGD with momentum, weight decay and Nesterov, PyTorch semantics (`shaders/sgd.wgsl`).
//!
//! The prepared step owns its uniform buffer; [`SgdStep::set`] rewrites it before each step
//! (the learning rate follows a schedule, and the first step initialises the momentum buffer).

use super::{Bind, Dispatch, Launch, Params, View, as_u32, build, grid_1d, uniform};
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

/// A prepared SGD step over one flat parameter vector.
#[derive(Debug)]
pub struct SgdStep {
    /// The step's dispatch; record it after [`SgdStep::set`].
    pub dispatch: Dispatch,
    params: wgpu::Buffer,
    n: u32,
}

impl SgdStep {
    /// Prepare x ← step(x, g, buf). All three views have the same length.
    pub fn prepare(gpu: &Gpu, grad: View<'_>, x: View<'_>, momentum: View<'_>) -> Result<SgdStep> {
        const OP: &str = "sgd_step";
        let n = x.len;
        if n == 0 || grad.len != n || momentum.len != n {
            return Err(Error::shape(
                OP,
                format!(
                    "x, grad and momentum must have one positive length, got {n}, {} and {}",
                    grad.len, momentum.len
                ),
            ));
        }
        if [grad.offset, x.offset, momentum.offset]
            .iter()
            .any(|&o| o != 0)
        {
            return Err(Error::shape(
                OP,
                "x, grad and momentum must be whole buffers",
            ));
        }
        let n = as_u32(OP, "n", n)?;
        let params = uniform(gpu, "sgd params", &[0u8; std::mem::size_of::<SgdParams>()]);
        let dispatch = build(
            gpu,
            Launch {
                label: "sgd",
                source: SRC,
                entry: "sgd_step",
                constants: &[],
                params: Params::Buffer(&params),
                bindings: &[
                    Bind::Buf(&grad.buf.buffer),
                    Bind::Buf(&x.buf.buffer),
                    Bind::Buf(&momentum.buf.buffer),
                ],
                groups: grid_1d(gpu, n.div_ceil(256)),
            },
        )?;
        Ok(SgdStep {
            dispatch,
            params,
            n,
        })
    }

    /// Set the hyper-parameters of the next recorded step; `first` marks step 0.
    pub fn set(&self, gpu: &Gpu, hyper: SgdHyper, first: bool) {
        let p = SgdParams {
            n: self.n,
            first: first as u32,
            nesterov: hyper.nesterov as u32,
            _pad: 0,
            lr: hyper.lr,
            mu: hyper.momentum,
            wd: hyper.weight_decay,
            _pad2: 0.0,
        };
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
