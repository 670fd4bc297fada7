//! The tiled variant (`storage/tiled.wgsl` after `storage/prelude.wgsl`): workgroup tiles
//! through shared memory with a register block per invocation, reading storage buffers; for
//! GPUs. The tile sizes are pipeline constants, per adapter (see [`super::tile`]). The subgroup variant
//! ([`super::subgroup`]) reads the same operands with the same uniform, so it launches
//! through here too.

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build};
use super::super::layout::{UniformLayout, uniform_layout};
use super::super::view::View;
use super::epilogue::{EpilogueParams, Prepared};
use super::shape::{Dims, workgroups};
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
    lda: u32,
    ldb: u32,
    _pad1: u32,
    _pad2: u32,
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
                _pad1,
                _pad2,
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

/// Elements of k one dispatch sums (a multiple of every tile's BK): a longer product runs as
/// chunks that accumulate into C, for both storage kernels. llvmpipe stops a shader's loops
/// after 65535 iterations in all (measured: a 7×9 product with k = 65573 lost the rest of its
/// sums silently, and with 8-deep slices k = 33000 did, counting the slice loads), so a chunk
/// keeps every tile's loops well below that. Every kernel chunks alike, so all give the same
/// bits.
const CHUNK: usize = 8192;

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

/// The product with `kernel`, as chunks of k that accumulate into C.
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
    let mut steps = Dispatch::empty();
    for k0 in (0..k).step_by(CHUNK) {
        let kc = CHUNK.min(k - k0);
        // op(A)[:, k0..] and op(B)[k0.., :] in their stored layouts.
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
        let last = k0 + kc == k;
        let none = Prepared::none(epilogue);
        let chunk = Chunk {
            dims: Dims { m, n, k: kc },
            offsets: (off_a, off_b, c.offset),
            lds: (lda, ldb),
            accumulate: accumulate || k0 > 0,
        };
        let epi = if last { epilogue } else { &none };
        steps = steps.then(launch(
            gpu,
            kernel,
            chunk,
            (ta, tb),
            (a, b, c),
            replicas,
            epi,
        )?);
    }
    Ok(steps)
}

/// One dispatch's share of a product.
pub(super) struct Chunk {
    pub dims: Dims,
    pub offsets: (usize, usize, usize),
    pub lds: (usize, usize),
    pub accumulate: bool,
}

fn launch(
    gpu: &Gpu,
    kernel: Kernel,
    chunk: Chunk,
    (ta, tb): (bool, bool),
    (a, b, c): (View<'_>, View<'_>, View<'_>),
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
        _pad1: 0,
        _pad2: 0,
        _pad3: 0,
        epilogue: epilogue.params,
    };
    let mut constants = vec![("TRANS_A", ta as u8 as f64), ("TRANS_B", tb as u8 as f64)];
    // Bindings 7 and 8: A and B again, read as vec4s where the tiled kernel may.
    let mut vec4_views = [Bind::Unused, Bind::Unused];
    let (label, source, (cols, rows)) = match kernel {
        Kernel::Tiled(tile) => {
            constants.extend(tile.constants());
            let (va, vb) = vec_loads(tile, &chunk, (ta, tb), replicas);
            constants.extend([("VEC_A", va as u8 as f64), ("VEC_B", vb as u8 as f64)]);
            vec4_views = [Bind::Buf(&a.buf.buffer), Bind::Buf(&b.buf.buffer)];
            let grid = (n.div_ceil(tile.bn as usize), m.div_ceil(tile.bm as usize));
            ("matmul_tiled", TILED_SRC, grid)
        }
        Kernel::Subgroup => {
            constants.extend(subgroup::constants());
            ("matmul_subgroup", subgroup::source(), subgroup::grid(m, n))
        }
    };
    let [a4, b4] = vec4_views;
    build(
        gpu,
        Launch {
            label,
            source,
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
                a4,
                b4,
            ],
            groups: workgroups(gpu, OP, cols, rows)?,
        },
    )
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
    let whole = |values: [usize; 5]| values.iter().all(|v| v % 4 == 0);
    let strides = replicas.strides.map(|s| s as usize);
    let (tm, tn, tk) = (tile.bm as usize, tile.bn as usize, tile.bk as usize);
    let a = whole([
        chunk.offsets.0,
        strides[0],
        chunk.lds.0,
        if ta { m } else { k },
        if ta { tm } else { tk },
    ]);
    let b = whole([
        chunk.offsets.1,
        strides[1],
        chunk.lds.1,
        if tb { k } else { n },
        if tb { tk } else { tn },
    ]);
    (a, b)
}
