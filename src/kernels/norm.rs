//! Global squared L2 norm of a flat vector, a two-stage reduction (`shaders/norm.wgsl`).
//!
//! The result stays on the device, in an element of an output vector, so SAM's perturbation
//! can divide by it without a host round trip.

use super::{Bind, Dispatch, Launch, Params, View, as_u32, build, texture_copies};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};

const SRC: &str = include_str!("../../shaders/norm.wgsl");

/// Most workgroups in the first stage: 16384 invocations fill a large GPU, and one workgroup
/// adds their partial sums 64 each.
const MAX_GROUPS: usize = 64;

/// Prepare out = Σ x² over the view `x`, written to element `out.offset` of `out`'s buffer.
pub fn prepare(gpu: &Gpu, x: View<'_>, out: View<'_>) -> Result<Dispatch> {
    reduce(gpu, x, None, out)
}

/// Prepare out = Σ (w ⊙ x)² (ASAM's ‖|w| ⊙ x‖²); `w` is a whole buffer as long as `x`.
pub fn prepare_weighted(gpu: &Gpu, w: View<'_>, x: View<'_>, out: View<'_>) -> Result<Dispatch> {
    if w.len != x.len || w.offset != 0 {
        return Err(Error::shape(
            "sumsq_weighted",
            format!(
                "the weights must be a whole buffer of {} elements, got {} from {}",
                x.len, w.len, w.offset
            ),
        ));
    }
    reduce(gpu, x, Some(w), out)
}

fn reduce(gpu: &Gpu, x: View<'_>, w: Option<View<'_>>, out: View<'_>) -> Result<Dispatch> {
    const OP: &str = "sumsq";
    if x.len == 0 {
        return Err(Error::shape(OP, "the vector is empty"));
    }
    if !x.offset.is_multiple_of(4) {
        return Err(Error::shape(
            OP,
            format!(
                "the vector must start at a multiple of 4 elements, not {}",
                x.offset
            ),
        ));
    }
    out.expect_len(OP, "out", 1)?;
    if x.buf.buffer == out.buf.buffer {
        return Err(Error::shape(OP, "out must not share a buffer with x"));
    }
    let groups = x.len.div_ceil(1024).min(MAX_GROUPS);
    let partials = gpu.zeros::<f32>(256 * groups, "norm partial sums")?;
    let params = |n: usize, off: usize| -> Result<[u32; 4]> {
        Ok([
            as_u32(OP, "n", n)?,
            as_u32(OP, "offset", off)?,
            groups as u32,
            as_u32(OP, "out offset", out.offset)?,
        ])
    };
    // A whole-row vector from element 0 is read through a texture copy (see `texture_copies`).
    let copy = match (w, x.offset) {
        (None, 0) => texture_copies(gpu, as_u32(OP, "n", x.len)?, &[x])?,
        _ => None,
    };
    let stage = |entry, p: [u32; 4], src: &GpuBuf<f32>, dst: &GpuBuf<f32>, g: u32| {
        let mut bindings = vec![Bind::Buf(&src.buffer), Bind::Buf(&dst.buffer)];
        if let (Some(w), "sumsq_weighted_partial") = (w, entry) {
            bindings.push(Bind::Buf(&w.buf.buffer));
        }
        if let (Some((_, views)), "sumsq_partial_tex") = (&copy, entry) {
            bindings[0] = Bind::Tex(&views[0]);
        }
        build(
            gpu,
            Launch {
                label: "norm",
                source: SRC,
                entry,
                constants: &[],
                params: Params::Bytes(bytemuck::cast_slice(&p)),
                replicas: None,
                bindings: &bindings,
                groups: [g, 1, 1],
            },
        )
    };
    let first = stage(
        match (w, &copy) {
            (Some(_), _) => "sumsq_weighted_partial",
            (None, Some(_)) => "sumsq_partial_tex",
            (None, None) => "sumsq_partial",
        },
        params(x.len, x.offset)?,
        x.buf,
        &partials,
        groups as u32,
    )?;
    let second = stage("sumsq_final", params(groups, 0)?, &partials, out.buf, 1)?;
    // The partials buffer lives on through the bind groups that use it.
    let first = match copy {
        Some((c, _)) => c.then(first),
        None => first,
    };
    Ok(first.then(second))
}

/// CPU f64 reference of the weighted form.
pub fn reference_weighted(w: &[f32], x: &[f32]) -> f64 {
    w.iter()
        .zip(x)
        .map(|(&w, &x)| (w as f64 * x as f64).powi(2))
        .sum()
}

/// CPU f64 reference.
pub fn reference(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64 * v as f64).sum()
}
