//! Bias add and bias gradient over `[outer, channels, inner]` tensors
//! (`bias.wgsl`, `bias_grad.wgsl`).
//!
//! A linear layer's output is `[batch, features, 1]`; a convolution's NCHW output is
//! `[batch, C, H*W]`. The bias and its gradient are views into the flat parameter and gradient
//! vectors.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::matmul::StagedA;
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const ADD_SRC: &str = crate::wgsl!("kernels/bias/bias.wgsl");
const GRAD_SRC: &str = crate::wgsl!("kernels/bias/bias_grad.wgsl");

/// The tensor's shape as `[outer, channels, inner]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BiasShape {
    /// Batch (and anything else outside the channel axis).
    pub outer: usize,
    /// Channels: one bias value each.
    pub channels: usize,
    /// Elements per channel inside one outer index (H*W for images, 1 for features).
    pub inner: usize,
}

impl BiasShape {
    fn len(self) -> usize {
        self.outer * self.channels * self.inner
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct BiasParams {
    outer: u32,
    channels: u32,
    inner: u32,
    off_b: u32,
    accumulate: u32,
    layer_rows: u32,
    layers: u32,
    _pad: u32,
}

/// The uniform layouts of both kernels, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    [("bias", ADD_SRC), ("bias_grad", GRAD_SRC)]
        .map(|(kernel, src)| {
            uniform_layout!(
                kernel,
                src,
                "Params",
                BiasParams {
                    outer,
                    channels,
                    inner,
                    off_b,
                    accumulate,
                    layer_rows,
                    layers,
                    _pad,
                }
            )
            .replicated()
        })
        .into()
}

fn params(op: &'static str, s: BiasShape, bias: &View<'_>, accumulate: bool) -> Result<BiasParams> {
    if s.len() == 0 {
        return Err(Error::shape(op, format!("empty shape {s:?}")));
    }
    bias.expect_len(op, "bias", s.channels)?;
    Ok(BiasParams {
        outer: as_u32(op, "outer", s.outer)?,
        channels: as_u32(op, "channels", s.channels)?,
        inner: as_u32(op, "inner", s.inner)?,
        off_b: as_u32(op, "bias offset", bias.offset)?,
        accumulate: accumulate as u32,
        layer_rows: 0,
        layers: 0,
        _pad: 0,
    })
}

/// Prepare y += bias (broadcast over outer and inner). `y` must be a whole buffer.
pub fn prepare_add(gpu: &Gpu, shape: BiasShape, bias: View<'_>, y: View<'_>) -> Result<Dispatch> {
    const OP: &str = "bias_add";
    let p = params(OP, shape, &bias, false)?;
    y.expect_len(OP, "y", shape.len())?;
    if y.offset != 0 || y.buf.buffer == bias.buf.buffer {
        return Err(Error::shape(
            OP,
            "y must be its own buffer, starting at element 0",
        ));
    }
    build(
        gpu,
        Launch {
            label: "bias",
            source: ADD_SRC,
            entry: "bias_add",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(OP, &[bias.rep(), y.rep()])?),
            bindings: &[Bind::Buf(&bias.buf.buffer), Bind::Buf(&y.buf.buffer)],
            groups: grid_1d(gpu, as_u32(OP, "groups", shape.len().div_ceil(256))?),
        },
    )
}

/// Prepare db = Σ dy over outer and inner (db += with `accumulate`). `dy` must be a whole
/// buffer.
pub fn prepare_grad(
    gpu: &Gpu,
    shape: BiasShape,
    dy: View<'_>,
    db: View<'_>,
    accumulate: bool,
) -> Result<Dispatch> {
    // The entries add in the same order (see bias_grad.wgsl); short sums take one invocation
    // per channel, long ones (or more channels than one grid row holds) a workgroup each.
    let lanes = shape.outer * shape.inner <= LANES_UP_TO
        && shape.channels.div_ceil(64) <= gpu.limits.max_compute_workgroups_per_dimension as usize;
    let entry = if lanes {
        "bias_grad_lanes"
    } else {
        "bias_grad"
    };
    prepare_grad_with(gpu, entry, shape, dy, db, accumulate)
}

/// [`prepare_grad`] with the entry given (`bias_grad` or `bias_grad_lanes`).
pub(super) fn prepare_grad_with(
    gpu: &Gpu,
    entry: &'static str,
    shape: BiasShape,
    dy: View<'_>,
    db: View<'_>,
    accumulate: bool,
) -> Result<Dispatch> {
    const OP: &str = "bias_grad";
    let p = params(OP, shape, &db, accumulate)?;
    dy.expect_len(OP, "dy", shape.len())?;
    if dy.offset != 0 || dy.buf.buffer == db.buf.buffer {
        return Err(Error::shape(
            OP,
            "dy must be its own buffer, starting at element 0",
        ));
    }
    let channels = as_u32(OP, "channels", shape.channels)?;
    let groups = match entry {
        "bias_grad_lanes" => [channels.div_ceil(64), 1, 1],
        _ => grid_1d(gpu, channels),
    };
    build(
        gpu,
        Launch {
            label: "bias_grad",
            source: GRAD_SRC,
            entry,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(OP, &[dy.rep(), db.rep()])?),
            bindings: &[Bind::Buf(&dy.buf.buffer), Bind::Buf(&db.buf.buffer)],
            groups,
        },
    )
}

/// [`prepare_grad`] for a linear layer's dy (inner 1) that the weight gradient's product has
/// staged as its op(A) = dyᵀ (`staged`): the same sums in the same order, read as texel
/// gathers, which on llvmpipe take less time than the storage loads (0.15 against 0.26 ms
/// for 128×256). Any other case (no staged operand, other shapes, sums longer than one
/// invocation takes) is [`prepare_grad`]'s.
pub fn prepare_grad_staged(
    gpu: &Gpu,
    shape: BiasShape,
    (dy, staged): (View<'_>, Option<&StagedA>),
    db: View<'_>,
    accumulate: bool,
) -> Result<Dispatch> {
    const OP: &str = "bias_grad";
    let fits = |s: &&StagedA| s.rows == shape.channels && s.cols == shape.outer && shape.inner == 1;
    let Some(staged) = staged.filter(fits).filter(|_| shape.outer <= LANES_UP_TO) else {
        return prepare_grad(gpu, shape, dy, db, accumulate);
    };
    dy.expect_len(OP, "dy", shape.len())?;
    let mut p = params(OP, shape, &db, accumulate)?;
    p.layer_rows = as_u32(OP, "rows per layer", staged.rows_per_layer)?;
    p.layers = as_u32(OP, "layers", staged.layers)?;
    let channels = as_u32(OP, "channels", shape.channels)?;
    build(
        gpu,
        Launch {
            label: "bias_grad",
            source: GRAD_SRC,
            entry: "bias_grad_texels",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(OP, &[(dy.replicas, 0), db.rep()])?),
            bindings: &[
                Bind::Unused,
                Bind::Buf(&db.buf.buffer),
                Bind::Tex(&staged.view),
            ],
            groups: [channels.div_ceil(64), 1, 1],
        },
    )
}

/// The longest per-channel sum the one-invocation-per-channel entry takes: it adds the
/// elements one after another (and llvmpipe caps a shader's loops at 65535 iterations).
const LANES_UP_TO: usize = 4096;

/// CPU f64 reference of [`prepare_add`]: returns y + bias.
pub fn reference_add<T: Copy + Into<f64>>(shape: BiasShape, bias: &[T], y: &[T]) -> Vec<f64> {
    (0..shape.len())
        .map(|e| y[e].into() + bias[(e / shape.inner) % shape.channels].into())
        .collect()
}

/// CPU f64 reference of [`prepare_grad`]: the per-channel sums of dy.
pub fn reference_grad<T: Copy + Into<f64>>(shape: BiasShape, dy: &[T]) -> Vec<f64> {
    let mut db = vec![0.0f64; shape.channels];
    for (e, &v) in dy.iter().take(shape.len()).enumerate() {
        db[(e / shape.inner) % shape.channels] += v.into();
    }
    db
}
