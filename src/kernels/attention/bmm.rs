//! The batched strided product (`bmm.wgsl`): C = α·A·B for every (batch, head) pair, each
//! operand addressed through an offset and four strides.

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::dispatch::Dispatch;
use crate::kernels::launch::{Bind, Launch, Params, Replicas, as_u32, build};
use crate::kernels::layout::{UniformLayout, uniform_layout};
use crate::kernels::view::View;

pub(super) const SRC: &str = crate::wgsl!("kernels/attention/bmm.wgsl");

/// Where element (b, h, i, j) of one operand lies: `off + b·sb + h·sh + i·si + j·sj`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct Strided {
    pub off: u32,
    pub sb: u32,
    pub sh: u32,
    pub si: u32,
    pub sj: u32,
    pub _pad: [u32; 3],
}

impl Strided {
    pub(super) fn new(off: usize, [sb, sh, si, sj]: [usize; 4]) -> Strided {
        let u = |v: usize| v as u32;
        Strided {
            off: u(off),
            sb: u(sb),
            sh: u(sh),
            si: u(si),
            sj: u(sj),
            _pad: [0; 3],
        }
    }

    /// One past the last element a `batch × heads × rows × cols` operand touches.
    fn end(&self, (batch, heads): (usize, usize), rows: usize, cols: usize) -> usize {
        let s = |v: u32| v as usize;
        s(self.off)
            + (batch - 1) * s(self.sb)
            + (heads - 1) * s(self.sh)
            + (rows - 1) * s(self.si)
            + (cols - 1) * s(self.sj)
            + 1
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct BmmParams {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    heads: u32,
    alpha: f32,
    _pad: [u32; 2],
    a: Strided,
    b: Strided,
    c: Strided,
}

pub(super) fn uniform_layout() -> UniformLayout {
    uniform_layout!(
        "attention_bmm",
        SRC,
        "Params",
        BmmParams {
            m,
            n,
            k,
            batch,
            heads,
            alpha,
            _pad,
            a,
            b,
            c
        }
    )
    .replicated()
}

/// The sizes of one product: C is `m × n`, the sum runs over `k`, for `batch × heads`
/// matrices.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dims {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    pub heads: usize,
}

/// Prepare C = α·A·B. Each operand's elements must lie inside its view's replica.
pub(super) fn prepare(
    gpu: &Gpu,
    op: &'static str,
    d: Dims,
    alpha: f32,
    [(a, sa), (b, sb), (c, sc)]: [(View<'_>, Strided); 3],
) -> Result<Dispatch> {
    let bh = (d.batch, d.heads);
    let fits = [(a, sa, d.m, d.k), (b, sb, d.k, d.n), (c, sc, d.m, d.n)];
    for (i, (v, s, rows, cols)) in fits.into_iter().enumerate() {
        if v.offset != 0 || s.end(bh, rows, cols) > v.len {
            return Err(Error::shape(
                op,
                format!(
                    "operand {} needs {} elements from the start of its buffer, got a view of \
                     {} from {}",
                    i + 1,
                    s.end(bh, rows, cols),
                    v.len,
                    v.offset
                ),
            ));
        }
    }
    let p = BmmParams {
        m: as_u32(op, "m", d.m)?,
        n: as_u32(op, "n", d.n)?,
        k: as_u32(op, "k", d.k)?,
        batch: as_u32(op, "batch", d.batch)?,
        heads: as_u32(op, "heads", d.heads)?,
        alpha,
        _pad: [0; 2],
        a: sa,
        b: sb,
        c: sc,
    };
    let z = as_u32(op, "batch × heads", d.batch * d.heads)?;
    let replicas = Replicas::of(op, &[a.rep(), b.rep(), c.rep()])?;
    if z.saturating_mul(replicas.count) > gpu.limits.max_compute_workgroups_per_dimension {
        return Err(Error::shape(
            op,
            format!("{} matrices exceed the adapter's grid", z * replicas.count),
        ));
    }
    build(
        gpu,
        Launch {
            label: "attention_bmm",
            source: SRC,
            entry: "bmm",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(replicas),
            bindings: &[
                Bind::Buf(&a.buf.buffer),
                Bind::Buf(&b.buf.buffer),
                Bind::Buf(&c.buf.buffer),
            ],
            groups: [
                as_u32(op, "column tiles", d.n.div_ceil(16))?,
                as_u32(op, "row tiles", d.m.div_ceil(16))?,
                z,
            ],
        },
    )
    .map(|dispatch| dispatch.with_flops(2.0 * (d.m * d.n * d.k * d.batch * d.heads) as f64))
}
