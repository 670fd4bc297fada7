//! What a product does to C as it stores ([`Epilogue`]), and its uniform fields and
//! bindings, shared by both product kernels.

use super::super::launch::as_u32;
use super::super::view::View;
use super::shape::Dims;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};

/// What a product does to each element of C after its sum (and after adding C's old value
/// when accumulating), in this order: add a per-column bias, take the ReLU, and zero where a
/// mask of C's shape is not positive (a ReLU's backward, the mask being the ReLU's output).
/// Each step is the same operation as the separate kernel it replaces (`bias`, `relu`), so a
/// fused product gives the unfused passes' bits while saving their passes over C.
#[derive(Clone, Copy, Debug, Default)]
pub struct Epilogue<'a> {
    /// The bias, one value per column of C.
    pub bias: Option<View<'a>>,
    /// Apply max(y, 0).
    pub relu: bool,
    /// Keep y only where the mask (m×n, like C) is > 0.
    pub mask: Option<View<'a>>,
}

impl Epilogue<'_> {
    /// Whether it does anything.
    pub fn is_empty(&self) -> bool {
        self.bias.is_none() && !self.relu && self.mask.is_none()
    }
}

/// The epilogue's uniform fields, as both kernels declare them after their own.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct EpilogueParams {
    pub bias: u32,
    pub off_bias: u32,
    pub relu: u32,
    pub mask: u32,
    pub off_mask: u32,
    pub rs_bias: u32,
    pub rs_mask: u32,
    pub _pad0: u32,
}

/// An epilogue ready to launch: its fields and the buffers for bindings 5 (bias) and 6
/// (mask), a 16-byte placeholder of its own for each it has not (every binding needs a
/// buffer).
pub(super) struct Prepared {
    pub params: EpilogueParams,
    pub bias: wgpu::Buffer,
    pub mask: wgpu::Buffer,
    _placeholders: [Option<GpuBuf<f32>>; 2],
}

/// The buffer of a placeholder made because it was needed.
fn held(spare: &Option<GpuBuf<f32>>) -> wgpu::Buffer {
    spare
        .as_ref()
        .expect("made when its binding has nothing")
        .buffer
        .clone()
}

impl Prepared {
    /// The same bindings with nothing to do (the earlier chunks of a long product).
    pub fn none(e: &Prepared) -> Prepared {
        Prepared {
            params: EpilogueParams::default(),
            bias: e.bias.clone(),
            mask: e.mask.clone(),
            _placeholders: [None, None],
        }
    }
}

/// The epilogue's field names in order, as the kernels declare them, for the layout test (see
/// [`super::super::layout::UniformLayout::with_epilogue`]).
pub(crate) const FIELDS: [&str; 8] = [
    "bias", "off_bias", "relu", "mask", "off_mask", "rs_bias", "rs_mask", "_pad0",
];

/// Check `e` against the product's C and prepare it.
pub(super) fn params(gpu: &Gpu, dims: Dims, c: View<'_>, e: Epilogue<'_>) -> Result<Prepared> {
    const OP: &str = "matmul";
    let replicas_match = |v: &View<'_>| v.replicas == c.replicas;
    if let Some(b) = e.bias {
        b.expect_len(OP, "bias", dims.n)?;
        if !replicas_match(&b) {
            return Err(Error::shape(OP, "the bias and C differ in replicas"));
        }
    }
    if let Some(m) = e.mask {
        m.expect_len(OP, "mask", dims.m * dims.n)?;
        if !replicas_match(&m) || m.buf.buffer == c.buf.buffer {
            return Err(Error::shape(
                OP,
                "the mask needs C's replicas and its own buffer",
            ));
        }
    }
    if let (Some(b), Some(m)) = (e.bias, e.mask)
        && b.buf.buffer == m.buf.buffer
    {
        return Err(Error::shape(
            OP,
            "the bias and the mask must lie in different buffers",
        ));
    }
    // One placeholder per unused binding: WebGPU (Chrome's Dawn) rejects a dispatch whose
    // writable storage bindings alias, and every binding of the register kernel is writable.
    let spare = |what| gpu.zeros::<f32>(4, what);
    let bias_spare = if e.bias.is_none() {
        Some(spare("no bias")?)
    } else {
        None
    };
    let mask_spare = if e.mask.is_none() {
        Some(spare("no mask")?)
    } else {
        None
    };
    let params = EpilogueParams {
        bias: e.bias.is_some() as u32,
        off_bias: as_u32(OP, "bias offset", e.bias.map_or(0, |v| v.offset))?,
        relu: e.relu as u32,
        mask: e.mask.is_some() as u32,
        off_mask: as_u32(OP, "mask offset", e.mask.map_or(0, |v| v.offset))?,
        rs_bias: as_u32(OP, "bias stride", e.bias.map_or(0, |v| v.stride))?,
        rs_mask: as_u32(OP, "mask stride", e.mask.map_or(0, |v| v.stride))?,
        _pad0: 0,
    };
    Ok(Prepared {
        params,
        bias: e
            .bias
            .map_or_else(|| held(&bias_spare), |v| v.buf.buffer.clone()),
        mask: e
            .mask
            .map_or_else(|| held(&mask_spare), |v| v.buf.buffer.clone()),
        _placeholders: [bias_spare, mask_spare],
    })
}
