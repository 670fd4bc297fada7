//! The tiled variant (`storage/tiled.wgsl` after `storage/prelude.wgsl`): workgroup tiles
//! through shared memory with a register block per invocation, reading storage buffers; for
//! GPUs. The tile sizes are pipeline constants, per adapter (see [`super::tile`]). The subgroup
//! variant ([`super::subgroup`]) reads the same operands with the same uniform, so it launches
//! through here too: a product runs as one launch, as chunks of k on CPU adapters, or split
//! along k with its reduction where [`super::split`] says so.

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::super::layout::{UniformLayout, uniform_layout};
use super::super::view::View;
use super::epilogue::{EpilogueParams, Prepared};
use super::shape::{Dims, workgroups};
use super::split::{self, CHUNK};
use super::subgroup;
use super::tile::{self, Tile};
use crate::error::Result;
use crate::gpu::Gpu;

/// The tiled kernel after the storage-buffer kernels' shared prelude (uniform, bindings, A's
/// reads, epilogue).
const TILED_SRC: &str = concat!(
    crate::wgsl!("kernels/matmul/storage/prelude.wgsl"),
    crate::wgsl!("kernels/matmul/storage/tiled.wgsl")
);

/// The storage kernels' uniform (prelude.wgsl's `Params`), which split-k's reduction shares.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    off_a: u32,
    off_b: u32,
    off_c: u32,
    accumulate: u32,
    lda: u32,
    ldb: u32,
    splits: u32,
    k_last: u32,
    _pad3: u32,
    epilogue: EpilogueParams,
}

/// The uniform layouts (the subgroup variant's uniform is this one), for the layout test.
pub(super) fn uniform_layouts() -> Vec<UniformLayout> {
    [
        ("matmul_tiled", TILED_SRC),
        ("matmul_subgroup", subgroup::SUBGROUP_SRC),
    ]
    .map(|(kernel, source)| {
        let l = uniform_layout!(
            kernel,
            source,
            "Params",
            MatmulParams {
                m,
                n,
                k,
                off_a,
                off_b,
                off_c,
                accumulate,
                lda,
                ldb,
                splits,
                k_last,
                _pad3,
                epilogue,
            }
        );
        l.with_epilogue(&super::epilogue::FIELDS).replicated()
    })
    .to_vec()
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
    prepare_storage(
        gpu,
        Kernel::Tiled(tile::for_gpu(gpu)),
        dims,
        (ta, tb),
        (a, b, c),
        (replicas, accumulate),
        epilogue,
    )
}

/// A kernel that reads its operands from storage buffers.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kernel {
    /// `storage/tiled.wgsl` with this tile.
    Tiled(Tile),
    /// `storage/subgroup.wgsl`.
    Subgroup,
}

/// [`prepare`] with the tile given.
pub(super) fn prepare_tiled(
    gpu: &Gpu,
    tile: Tile,
    dims: Dims,
    transposes: (bool, bool),
    operands: (View<'_>, View<'_>, View<'_>),
    how: (Replicas, bool),
    epilogue: &Prepared,
) -> Result<Dispatch> {
    let kernel = Kernel::Tiled(tile);
    prepare_storage(gpu, kernel, dims, transposes, operands, how, epilogue)
}

/// The product with `kernel`: split along k over many workgroups when its output grid is
/// too small to fill a GPU (see [`super::split`]), else in one dispatch, or on CPU adapters
/// as chunks of k that accumulate into C.
pub(super) fn prepare_storage(
    gpu: &Gpu,
    kernel: Kernel,
    dims: Dims,
    (ta, tb): (bool, bool),
    (a, b, c): (View<'_>, View<'_>, View<'_>),
    (replicas, accumulate): (Replicas, bool),
    epilogue: &Prepared,
) -> Result<Dispatch> {
    match kernel {
        Kernel::Tiled(tile) => tile.check(gpu)?,
        Kernel::Subgroup => subgroup::check(gpu)?,
    }
    let Dims { m, n, k } = dims;
    let cpu = gpu.adapter.is_cpu();
    let (cols, rows) = grid(kernel, m, n);
    let copies = replicas.count as usize;
    if let Some(plan) = split::plan(dims, (cols * rows * copies, copies), cpu) {
        return prepare_split(
            gpu,
            kernel,
            (dims, plan),
            (ta, tb),
            (a, b, c),
            (replicas, accumulate),
            epilogue,
        );
    }
    let chunk_len = if cpu { CHUNK } else { k.max(1) };
    let mut steps = Dispatch::empty();
    for k0 in (0..k).step_by(chunk_len) {
        let kc = chunk_len.min(k - k0);
        let (off_a, lda, off_b, ldb) = operand_starts(dims, (ta, tb), (&a, &b), k0);
        let last = k0 + kc == k;
        let none = Prepared::none(epilogue);
        let chunk = Chunk {
            dims: Dims { m, n, k: kc },
            offsets: (off_a, off_b, c.offset),
            lds: (lda, ldb),
            accumulate: accumulate || k0 > 0,
            split: (1, kc),
        };
        let epi = if last { epilogue } else { &none };
        let buffers = (&a.buf.buffer, &b.buf.buffer, &c.buf.buffer);
        steps = steps.then(launch(
            gpu,
            kernel,
            chunk,
            (ta, tb),
            buffers,
            replicas,
            epi,
        )?);
    }
    Ok(steps)
}

/// Where op(A)[:, k0..] and op(B)[k0.., :] start in their stored layouts, with their leading
/// dimensions: `(off_a, lda, off_b, ldb)`.
fn operand_starts(
    Dims { m, n, k }: Dims,
    (ta, tb): (bool, bool),
    (a, b): (&View<'_>, &View<'_>),
    k0: usize,
) -> (usize, usize, usize, usize) {
    let (off_a, lda) = if ta {
        (a.offset + k0 * m, m)
    } else {
        (a.offset + k0, k)
    };
    let (off_b, ldb) = if tb {
        (b.offset + k0, k)
    } else {
        (b.offset + k0 * n, n)
    };
    (off_a, lda, off_b, ldb)
}

/// The workgroup grid `(columns, rows)` of `kernel` for an m×n product.
fn grid(kernel: Kernel, m: usize, n: usize) -> (usize, usize) {
    match kernel {
        Kernel::Tiled(tile) => (n.div_ceil(tile.bn as usize), m.div_ceil(tile.bm as usize)),
        Kernel::Subgroup => subgroup::grid(m, n),
    }
}

/// One dispatch's share of a product.
pub(super) struct Chunk {
    /// With k the length of one split's slice of the sum.
    pub dims: Dims,
    pub offsets: (usize, usize, usize),
    pub lds: (usize, usize),
    pub accumulate: bool,
    /// Split-k: how many slices the workgroups' z axis holds per replica, and the last
    /// slice's length (`(1, k)` for an unsplit dispatch).
    pub split: (usize, usize),
}

fn launch(
    gpu: &Gpu,
    kernel: Kernel,
    chunk: Chunk,
    (ta, tb): (bool, bool),
    (a, b, c): (&wgpu::Buffer, &wgpu::Buffer, &wgpu::Buffer),
    replicas: Replicas,
    epilogue: &Prepared,
) -> Result<Dispatch> {
    const OP: &str = "matmul";
    let Dims { m, n, k } = chunk.dims;
    let params = MatmulParams {
        m: as_u32(OP, "m", m)?,
        n: as_u32(OP, "n", n)?,
        k: as_u32(OP, "k", k)?,
        off_a: as_u32(OP, "A offset", chunk.offsets.0)?,
        off_b: as_u32(OP, "B offset", chunk.offsets.1)?,
        off_c: as_u32(OP, "C offset", chunk.offsets.2)?,
        accumulate: chunk.accumulate as u32,
        lda: as_u32(OP, "leading dimension", chunk.lds.0)?,
        ldb: as_u32(OP, "leading dimension", chunk.lds.1)?,
        splits: as_u32(OP, "splits", chunk.split.0)?,
        k_last: as_u32(OP, "k", chunk.split.1)?,
        _pad3: 0,
        epilogue: epilogue.params,
    };
    let mut constants = vec![("TRANS_A", ta as u8 as f64), ("TRANS_B", tb as u8 as f64)];
    // Bindings 7 and 8: A and B again, read as vec4s where the tiled kernel may.
    let mut vec4_views = [Bind::Unused, Bind::Unused];
    let (label, source) = match kernel {
        Kernel::Tiled(tile) => {
            constants.extend(tile.constants());
            let (va, vb) = vec_loads(tile, &chunk, (ta, tb), replicas);
            constants.extend([("VEC_A", va as u8 as f64), ("VEC_B", vb as u8 as f64)]);
            vec4_views = [Bind::Buf(a), Bind::Buf(b)];
            ("matmul_tiled", TILED_SRC)
        }
        Kernel::Subgroup => {
            constants.extend(subgroup::constants());
            ("matmul_subgroup", subgroup::source())
        }
    };
    let (cols, rows) = grid(kernel, m, n);
    let mut groups = workgroups(gpu, OP, cols, rows)?;
    groups[2] = as_u32(OP, "splits", chunk.split.0)?;
    let [a4, b4] = vec4_views;
    // Every slice but the last sums k elements.
    let (splits, k_last) = chunk.split;
    let sums = (splits - 1) * k + k_last;
    let flops = 2.0 * (m * n * sums) as f64 * replicas.count as f64;
    let launch = build(
        gpu,
        Launch {
            label,
            source,
            entry: "main",
            constants: &constants,
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(replicas),
            bindings: &[
                Bind::Buf(a),
                Bind::Buf(b),
                Bind::Buf(c),
                Bind::Unused,
                Bind::Buf(&epilogue.bias),
                Bind::Buf(&epilogue.mask),
                a4,
                b4,
            ],
            groups,
        },
    )?;
    Ok(launch.with_flops(flops))
}

/// Whether the tiled kernel may read A and B as vec4s (`VEC_A`, `VEC_B` in tiled.wgsl): an
/// operand's stored rows are whole vec4s when its start (every replica's), leading dimension
/// and row length are multiples of 4, and the tile's slice spans whole vec4s along them.
pub(super) fn vec_loads(
    tile: Tile,
    chunk: &Chunk,
    (ta, tb): (bool, bool),
    replicas: Replicas,
) -> (bool, bool) {
    let Dims { m, n, k } = chunk.dims;
    let whole = |values: [usize; 6]| values.iter().all(|v| v % 4 == 0);
    // A split's last slice is shorter than the others: its length along k counts too.
    let k_last = chunk.split.1;
    let strides = replicas.strides.map(|s| s as usize);
    let (tm, tn, tk) = (tile.bm as usize, tile.bn as usize, tile.bk as usize);
    let a = whole([
        chunk.offsets.0,
        strides[0],
        chunk.lds.0,
        if ta { m } else { k },
        if ta { tm } else { tk },
        if ta { 0 } else { k_last },
    ]);
    let b = whole([
        chunk.offsets.1,
        strides[1],
        chunk.lds.1,
        if tb { k } else { n },
        if tb { tk } else { tn },
        if tb { k_last } else { 0 },
    ]);
    (a, b)
}

/// The reduction, after the storage kernels' prelude (uniform, bindings, epilogue).
const REDUCE_SRC: &str = concat!(
    crate::wgsl!("kernels/matmul/storage/prelude.wgsl"),
    crate::wgsl!("kernels/matmul/storage/reduce.wgsl")
);

/// The split product: every slice of every replica in one dispatch into a scratch buffer,
/// then the ordered sum into C with the epilogue.
fn prepare_split(
    gpu: &Gpu,
    kernel: Kernel,
    (dims, plan): (Dims, split::Plan),
    transposes: (bool, bool),
    (a, b, c): (View<'_>, View<'_>, View<'_>),
    (replicas, accumulate): (Replicas, bool),
    epilogue: &Prepared,
) -> Result<Dispatch> {
    const OP: &str = "matmul";
    let Dims { m, n, .. } = dims;
    let slices = plan.count * m * n;
    // Written by the sums, read by the reduction right after, then dead: shared.
    let part = gpu.scratch::<f32>(replicas.count as usize * slices, "split-k partial sums")?;
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
