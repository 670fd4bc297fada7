//! Split-k for the storage-buffer products: a product whose output grid has too few
//! workgroups to fill a GPU and whose sum over k is long (a convolution's weight gradient:
//! m = cout, n = cin·k·k, k = N·H·W) is summed in slices of k by many workgroups at once, each
//! writing its partial C into a scratch buffer, then `storage/reduce.wgsl` adds the slices in
//! slice order and applies the epilogue. The order is fixed, so the result is the same bits
//! run to run; it differs from the unsplit sum's bits by rounding (the tests compare both with
//! the f64 reference).

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::super::view::View;
use super::epilogue::Prepared;
use super::shape::Dims;
use super::tiled::{CHUNK, Chunk, Kernel, MatmulParams, launch, operand_starts};
use crate::error::Result;
use crate::gpu::Gpu;

/// The reduction, after the storage kernels' prelude (uniform, bindings, epilogue).
const REDUCE_SRC: &str = concat!(
    crate::wgsl!("kernels/matmul/storage/prelude.wgsl"),
    crate::wgsl!("kernels/matmul/storage/reduce.wgsl")
);

/// Workgroups a product should have at least: two per multiprocessor of a large GPU (an
/// H200 has 132), with room for smaller tiles' larger grids.
pub const TARGET_GROUPS: usize = 512;

/// The shortest slice of k worth a workgroup: eight 16-deep steps of a tile. Shorter ones
/// spend more on writing and adding partial sums than they save; this one still lets a
/// 64-channel 3×3 convolution's forward product (k = 576, a 64×64 tile's grid of 128 at
/// ResNet-20's last stage) split four ways.
const MIN_SLICE: usize = 128;

/// The most partial sums one product keeps (16 MiB of scratch).
const MAX_PARTIALS: usize = 1 << 22;

/// How a product is split: `count` slices of `len` elements of k, the last `last` long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Slices per replica.
    pub count: usize,
    /// Elements of k per slice (a multiple of 16, every tile's BK).
    pub len: usize,
    /// Elements of k in the last slice (1..=len).
    pub last: usize,
}

/// The split of an m×n×k product whose unsplit dispatch has `groups` workgroups over its
/// `replicas`, or `None` when it runs unsplit. On CPU adapters every slice stays within
/// [`CHUNK`] (their shader loop limit).
pub fn plan(Dims { m, n, k }: Dims, (groups, replicas): (usize, usize), cpu: bool) -> Option<Plan> {
    let groups = groups.max(1);
    if groups >= TARGET_GROUPS {
        return None;
    }
    // The most slices the scratch may hold.
    let fit = MAX_PARTIALS / (m * n * replicas).max(1);
    let mut count = TARGET_GROUPS.div_ceil(groups).min(k / MIN_SLICE);
    if count < 2 {
        return None;
    }
    if cpu {
        count = count.max(k.div_ceil(CHUNK));
        if count > fit {
            return None;
        }
    }
    let count = count.min(fit);
    if count < 2 {
        return None;
    }
    let len = k.div_ceil(count).next_multiple_of(16);
    let count = k.div_ceil(len);
    (count >= 2).then(|| Plan {
        count,
        len,
        last: k - (count - 1) * len,
    })
}

/// The split product: every slice of every replica in one dispatch into a scratch buffer,
/// then the ordered sum into C with the epilogue.
pub(super) fn prepare(
    gpu: &Gpu,
    kernel: Kernel,
    (dims, plan): (Dims, Plan),
    transposes: (bool, bool),
    (a, b, c): (View<'_>, View<'_>, View<'_>),
    (replicas, accumulate): (Replicas, bool),
    epilogue: &Prepared,
) -> Result<Dispatch> {
    const OP: &str = "matmul";
    let Dims { m, n, .. } = dims;
    let slices = plan.count * m * n;
    let part = gpu.zeros::<f32>(replicas.count as usize * slices, "split-k partial sums")?;
    let (off_a, lda, off_b, ldb) = operand_starts(dims, transposes, (&a, &b), 0);
    let chunk = Chunk {
        dims: Dims { m, n, k: plan.len },
        offsets: (off_a, off_b, 0),
        lds: (lda, ldb),
        accumulate: false,
        split: (plan.count, plan.last),
    };
    let mut strides = replicas.strides;
    strides[2] = as_u32(OP, "replica stride", slices)?;
    let into_part = Replicas {
        count: replicas.count,
        strides,
    };
    let buffers = (&a.buf.buffer, &b.buf.buffer, &part.buffer);
    let none = Prepared::none(epilogue);
    let sums = launch(gpu, kernel, chunk, transposes, buffers, into_part, &none)?;
    let params = MatmulParams {
        m: as_u32(OP, "m", m)?,
        n: as_u32(OP, "n", n)?,
        off_c: as_u32(OP, "C offset", c.offset)?,
        accumulate: accumulate as u32,
        splits: as_u32(OP, "splits", plan.count)?,
        epilogue: epilogue.params,
        ..Default::default()
    };
    let reduce = build(
        gpu,
        Launch {
            label: "matmul_split_reduce",
            source: REDUCE_SRC,
            entry: "reduce",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(Replicas {
                count: replicas.count,
                strides: [strides[2], 0, replicas.strides[2], 0],
            }),
            bindings: &[
                Bind::Buf(&part.buffer),
                Bind::Unused,
                Bind::Buf(&c.buf.buffer),
                Bind::Unused,
                Bind::Buf(&epilogue.bias),
                Bind::Buf(&epilogue.mask),
            ],
            groups: grid_1d(gpu, as_u32(OP, "groups", (m * n).div_ceil(256))?),
        },
    )?;
    Ok(sums.then(reduce))
}
