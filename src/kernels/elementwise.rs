//! What the elementwise layer kernels share (ReLU and GELU): the uniform block `{ n }` with
//! the replica strides after it, vec4-bound whole buffers, and a 1-D grid of 256-wide
//! workgroups with one invocation per four elements (`elementwise.wgsl`, the prelude of their
//! shaders).

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// The uniform block (WGSL `Params`, followed by the replica strides).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ElementwiseParams {
    n: u32,
    _pad: [u32; 3],
}

/// The uniform layout of the elementwise shader `source`, for the layout test.
pub(crate) fn uniform_layout(kernel: &'static str, source: &'static str) -> UniformLayout {
    uniform_layout!(kernel, source, "Params", ElementwiseParams { n, _pad }).replicated()
}

/// Prepare entry point `op` of `source` over the first `n` elements of `operands`, each
/// `(name, view)` a whole buffer bound in order from binding 1.
pub(crate) fn prepare(
    gpu: &Gpu,
    (label, source): (&'static str, &'static str),
    op: &'static str,
    n: usize,
    operands: &[(&str, View<'_>)],
) -> Result<Dispatch> {
    if n == 0 {
        return Err(Error::shape(op, "n must be positive"));
    }
    let mut bindings = Vec::with_capacity(operands.len());
    for (name, v) in operands {
        v.expect_len(op, name, n)?;
        if v.offset != 0 {
            return Err(Error::shape(
                op,
                format!("{name} must start at element 0 of its buffer"),
            ));
        }
        bindings.push(Bind::Buf(&v.buf.buffer));
    }
    let reps: Vec<_> = operands.iter().map(|(_, v)| v.rep()).collect();
    // Bound as vec4s: a replica must start on a vec4.
    if reps.iter().any(|r| r.1 % 4 != 0) {
        return Err(Error::shape(op, "replica strides must be multiples of 4"));
    }
    let p = ElementwiseParams {
        n: as_u32(op, "n", n)?,
        _pad: [0; 3],
    };
    build(
        gpu,
        Launch {
            label,
            source,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(op, &reps)?),
            bindings: &bindings,
            groups: grid_1d(gpu, as_u32(op, "groups", n.div_ceil(1024))?),
        },
    )
}
