//! LayerNorm over the last dimension of `[rows, C]` activations (`layernorm.wgsl`): the
//! forward, which leaves each row's mean and 1/σ for the backward, and the backward with dx,
//! dγ and dβ. PyTorch's semantics: the biased variance, eps given by the model (timm's ViTs use
//! 1e-6). There are no running statistics: training and evaluation compute the same thing.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

mod reference;
mod shape;

pub use reference::{reference_backward, reference_forward};
use shape::CHUNK;
pub use shape::LnShape;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/layernorm/layernorm.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LnParams {
    rows: u32,
    c: u32,
    chunk: u32,
    chunks: u32,
    prm: u32,
    eps: f32,
    accumulate: u32,
    _pad0: u32,
    rs: [u32; 8],
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![uniform_layout!(
        "layernorm",
        SRC,
        "Params",
        LnParams {
            rows,
            c,
            chunk,
            chunks,
            prm,
            eps,
            accumulate,
            _pad0,
            rs
        }
    )]
}

/// The buffers of a LayerNorm: input, output (dx in the backward), per-row statistics, and γβ
/// (γ then β, `2c` values from the view's offset, in the flat parameter vector).
#[derive(Clone, Copy, Debug)]
pub struct LnIo<'a> {
    /// The input, `[rows, c]`.
    pub x: View<'a>,
    /// The output `[rows, c]`; the backward's dx.
    pub y: View<'a>,
    /// Each row's mean and 1/σ.
    pub stats: View<'a>,
    /// γ then β.
    pub gamma_beta: View<'a>,
}

/// One launch's operands by binding (1..=7): x, y, stats, γβ, dy, part, dγdβ.
type Operands<'a> = [Option<View<'a>>; 7];

/// Bindings 4 and 7 are read at the tensor's offset; the others are whole buffers.
const AT_OFFSET: [bool; 7] = [false, false, false, true, false, false, true];

fn launch(
    gpu: &Gpu,
    (op, s, accumulate): (&'static str, LnShape, bool),
    ops: &Operands<'_>,
    groups: [u32; 3],
) -> Result<Dispatch> {
    let present: Vec<_> = ops.iter().flatten().collect();
    let replicas = present.first().map_or(1, |v| v.replicas);
    let mut rs = [0u32; 8];
    let mut prm = None;
    for (i, v) in ops.iter().enumerate() {
        let Some(v) = v else { continue };
        let ok = v.replicas == replicas
            && if AT_OFFSET[i] {
                prm.is_none_or(|o| o == v.offset)
            } else {
                v.offset == 0
            };
        if !ok {
            return Err(Error::shape(
                op,
                format!(
                    "operand {} does not fit: whole buffers with one replica count, and γβ \
                     and dγdβ at one offset",
                    i + 1
                ),
            ));
        }
        if AT_OFFSET[i] {
            prm = Some(v.offset);
        }
        rs[i] = as_u32(op, "replica stride", v.stride)?;
    }
    let p = LnParams {
        rows: as_u32(op, "rows", s.rows)?,
        c: as_u32(op, "c", s.c)?,
        chunk: CHUNK as u32,
        chunks: as_u32(op, "chunks", s.chunks())?,
        prm: as_u32(op, "offset", prm.unwrap_or(0))?,
        eps: s.eps,
        accumulate: accumulate as u32,
        _pad0: 0,
        rs,
    };
    let bindings: Vec<Bind<'_>> = ops
        .iter()
        .map(|v| v.map_or(Bind::Unused, |v| Bind::Buf(&v.buf.buffer)))
        .collect();
    let mut groups = groups;
    groups[2] = as_u32(op, "replicas", replicas)?;
    build(
        gpu,
        Launch {
            label: "layernorm",
            source: SRC,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: None,
            bindings: &bindings,
            groups,
        },
    )
}

fn check(op: &'static str, s: LnShape, io: &LnIo<'_>) -> Result<()> {
    if s.rows == 0 || s.c == 0 || s.eps.is_nan() || s.eps <= 0.0 {
        return Err(Error::shape(
            op,
            format!("need rows ≥ 1, C ≥ 1 and eps > 0, got {s:?}"),
        ));
    }
    let n = s.rows * s.c;
    io.x.expect_len(op, "x", n)?;
    io.y.expect_len(op, "y", n)?;
    io.stats.expect_len(op, "stats", s.stats_len())?;
    io.gamma_beta.expect_len(op, "γβ", 2 * s.c)
}

/// Prepare the forward: y and the per-row statistics from x, γ and β.
pub fn prepare_forward(gpu: &Gpu, s: LnShape, io: LnIo<'_>) -> Result<Dispatch> {
    const OP: &str = "ln_forward";
    check(OP, s, &io)?;
    let ops = [
        Some(io.x),
        Some(io.y),
        Some(io.stats),
        Some(io.gamma_beta),
        None,
        None,
        None,
    ];
    let groups = grid_1d(gpu, as_u32(OP, "rows", s.rows)?);
    launch(gpu, (OP, s, false), &ops, groups)
}

/// Prepare the backward from `dy` and the forward's statistics: dx into `io.y` (added to what
/// is there when `accumulate`), and dγ, dβ into `grads` (`2c` values from its offset), with
/// `part` as scratch ([`LnShape::part_len`] elements).
pub fn prepare_backward(
    gpu: &Gpu,
    s: LnShape,
    io: LnIo<'_>,
    (dy, part): (View<'_>, View<'_>),
    grads: View<'_>,
    accumulate: bool,
) -> Result<Dispatch> {
    const OP: &str = "ln_backward";
    check(OP, s, &io)?;
    dy.expect_len(OP, "dy", s.rows * s.c)?;
    part.expect_len(OP, "part", s.part_len())?;
    grads.expect_len(OP, "dγdβ", 2 * s.c)?;
    let dx = [
        Some(io.x),
        Some(io.y),
        Some(io.stats),
        Some(io.gamma_beta),
        Some(dy),
        None,
        None,
    ];
    let dx = launch(
        gpu,
        ("ln_dx", s, accumulate),
        &dx,
        grid_1d(gpu, as_u32(OP, "rows", s.rows)?),
    )?;
    let columns = as_u32(OP, "column groups", s.c.div_ceil(64))?;
    let chunks = as_u32(OP, "chunks", s.chunks())?;
    if chunks > gpu.limits.max_compute_workgroups_per_dimension {
        return Err(Error::shape(
            OP,
            format!("{} rows exceed the adapter's grid", s.rows),
        ));
    }
    let sums = [
        Some(io.x),
        None,
        Some(io.stats),
        None,
        Some(dy),
        Some(part),
        None,
    ];
    let sums = launch(
        gpu,
        ("ln_dparams_part", s, false),
        &sums,
        [columns, chunks, 1],
    )?;
    let total = [None, None, None, None, None, Some(part), Some(grads)];
    let total = launch(gpu, ("ln_dparams_sum", s, false), &total, [columns, 1, 1])?;
    Ok(dx.then(sums).then(total))
}
