//! The tiled variant (`matmul_tiled.wgsl`): the classic 64×64 workgroup tile through shared
//! memory, reading storage buffers; for GPUs.

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build};
use super::super::layout::{UniformLayout, uniform_layout};
use super::super::view::View;
use super::epilogue::{EpilogueParams, Prepared};
use super::shape::{Dims, workgroups};
use crate::error::Result;
use crate::gpu::Gpu;

const TILED_SRC: &str = include_str!("matmul_tiled.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    off_a: u32,
    off_b: u32,
    off_c: u32,
    accumulate: u32,
    _pad: u32,
    epilogue: EpilogueParams,
}

/// The uniform layout, for the layout test.
pub(super) fn uniform_layouts() -> Vec<UniformLayout> {
    let l = uniform_layout!(
        "matmul_tiled",
        TILED_SRC,
        "Params",
        MatmulParams {
            m,
            n,
            k,
            off_a,
            off_b,
            off_c,
            accumulate,
            _pad,
            epilogue,
        }
    );
    vec![l.with_epilogue().replicated()]
}

pub(super) fn prepare(
    gpu: &Gpu,
    dims: Dims,
    (ta, tb): (bool, bool),
    (a, b, c): (View<'_>, View<'_>, View<'_>),
    replicas: Replicas,
    accumulate: bool,
    epilogue: &Prepared,
) -> Result<Dispatch> {
    const OP: &str = "matmul";
    let Dims { m, n, k } = dims;
    let params = MatmulParams {
        m: as_u32(OP, "m", m)?,
        n: as_u32(OP, "n", n)?,
        k: as_u32(OP, "k", k)?,
        off_a: as_u32(OP, "A offset", a.offset)?,
        off_b: as_u32(OP, "B offset", b.offset)?,
        off_c: as_u32(OP, "C offset", c.offset)?,
        accumulate: accumulate as u32,
        _pad: 0,
        epilogue: epilogue.params,
    };
    let constants = [("TRANS_A", ta as u8 as f64), ("TRANS_B", tb as u8 as f64)];
    build(
        gpu,
        Launch {
            label: "matmul_tiled",
            source: TILED_SRC,
            entry: "main",
            constants: &constants,
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(replicas),
            bindings: &[
                Bind::Buf(&a.buf.buffer),
                Bind::Buf(&b.buf.buffer),
                Bind::Buf(&c.buf.buffer),
                Bind::Unused,
                Bind::Buf(&epilogue.bias),
                Bind::Buf(&epilogue.mask),
            ],
            groups: workgroups(gpu, OP, n.div_ceil(64), m.div_ceil(64))?,
        },
    )
}
