//! The register variant: op(A) and op(B) staged as zero-padded rgba32f texture arrays
//! ([`super::staging`]), then a 16×8 block of C per invocation from texture samples (`matmul_reg.wgsl`); the `reg8`
//! form takes 8×8 blocks, by the shader's `ROWS` constant.

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build};
use super::super::layout::{UniformLayout, uniform_layout};
use super::super::textures;
use super::super::view::View;
use super::epilogue::{EpilogueParams, Prepared};
use super::shape::{Dims, StagedA, workgroups};
use super::staging::{self, Stored};
use crate::error::Result;
use crate::gpu::Gpu;

const REG_SRC: &str = crate::wgsl!("kernels/matmul/matmul_reg.wgsl");
/// Invocations per workgroup of the multiply, along C's rows and columns (8×8), and columns of
/// C per invocation; rows per invocation are the form's `ROWS` (16 or 8).
const REG_GROUP: (usize, usize) = (8, 8);
const REG_COLS: usize = 8;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TexturedParams {
    m: u32,
    n: u32,
    k4: u32,
    off_c: u32,
    accumulate: u32,
    layer_rows_a: u32,
    layer_rows_b: u32,
    n4: u32,
    epilogue: EpilogueParams,
}

/// The uniform layouts of the pack and multiply kernels, for the layout test.
pub(super) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![
        staging::uniform_layout(),
        uniform_layout!(
            "matmul_reg",
            REG_SRC,
            "Params",
            TexturedParams {
                m,
                n,
                k4,
                off_c,
                accumulate,
                layer_rows_a,
                layer_rows_b,
                n4,
                epilogue,
            }
        )
        .with_epilogue(&super::epilogue::FIELDS)
        .replicated(),
    ]
}

/// The product, and op(A) as it is staged when the product takes one chunk of k (see
/// [`StagedA`]).
pub(super) fn prepare(
    gpu: &Gpu,
    dims: Dims,
    (ta, tb): (bool, bool),
    (a, b, c): (View<'_>, View<'_>, View<'_>),
    (rows, accumulate): (usize, bool),
    epilogue: &Prepared,
) -> Result<(Dispatch, Option<StagedA>)> {
    let Dims { m, n, k } = dims;
    // A staged operand holds k/4 texels per row of A, at most the texture width: longer sums
    // (a convolution's weight gradient sums over every pixel of the batch) run as chunks of
    // k that accumulate into C.
    let chunk = 4 * gpu.limits.max_texture_dimension_2d as usize;
    let mut steps: Option<Dispatch> = None;
    let mut staged = None;
    for k0 in (0..k).step_by(chunk) {
        let kc = chunk.min(k - k0);
        // op(A)[:, k0..] and op(B)[k0.., :] in their stored layouts.
        let stored = |v: &View<'_>, offset, ld, transposed| Stored {
            offset: v.offset + offset,
            ld,
            transposed,
            replicas: v.replicas,
            stride: v.stride,
        };
        let at = if ta {
            stored(&a, k0 * m, m, true)
        } else {
            stored(&a, k0, k, false)
        };
        let bt = if tb {
            stored(&b, k0, k, true)
        } else {
            stored(&b, k0 * n, n, false)
        };
        // The epilogue runs once, on the last chunk's complete sums.
        let last = k0 + kc == k;
        let none = Prepared::none(epilogue);
        let (part, a_staged) = multiply_chunk(
            gpu,
            (m, n, kc),
            (a.buf, at),
            (b.buf, bt),
            c,
            (rows, accumulate || k0 > 0),
            if last { epilogue } else { &none },
        )?;
        staged = (k0 == 0 && last).then_some(a_staged);
        steps = Some(match steps {
            None => part,
            Some(s) => s.then(part),
        });
    }
    Ok((steps.expect("k > 0"), staged))
}

type Operand<'a> = (&'a crate::gpu::GpuBuf<f32>, Stored);

fn multiply_chunk(
    gpu: &Gpu,
    (m, n, k): (usize, usize, usize),
    (a, at): Operand<'_>,
    (b, bt): Operand<'_>,
    c: View<'_>,
    (rows, accumulate): (usize, bool),
    epilogue: &Prepared,
) -> Result<(Dispatch, StagedA)> {
    const OP: &str = "matmul";
    let k4 = k.div_ceil(4);
    let pa = staging::pack(gpu, "matmul A", a, (m, k, m), at)?;
    let pb = staging::pack(gpu, "matmul B", b, (k, n, 4 * k4), bt)?;
    let params = TexturedParams {
        m: as_u32(OP, "m", m)?,
        n: as_u32(OP, "n", n)?,
        k4: as_u32(OP, "k", k4)?,
        off_c: as_u32(OP, "C offset", c.offset)?,
        accumulate: accumulate as u32,
        layer_rows_a: pa.rows_per_layer,
        layer_rows_b: pb.rows_per_layer,
        n4: as_u32(OP, "n", n.div_ceil(4))?,
        epilogue: epilogue.params,
    };
    let (block_rows, block_cols) = (REG_GROUP.0 * rows, REG_GROUP.1 * REG_COLS);
    // Fewer than 8 column pairs: row blocks along x instead (ROWS_X in matmul_reg.wgsl).
    let rows_x = n.div_ceil(REG_COLS) < 8;
    let (col_groups, row_groups) = (n.div_ceil(block_cols), m.div_ceil(block_rows));
    let groups = if rows_x {
        workgroups(gpu, OP, row_groups, col_groups)?
    } else {
        workgroups(gpu, OP, col_groups, row_groups)?
    };
    let multiply = build(
        gpu,
        Launch {
            label: "matmul_reg",
            source: REG_SRC,
            entry: "main",
            constants: &[("ROWS", rows as f64), ("ROWS_X", rows_x as u8 as f64)],
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(Replicas {
                count: as_u32(OP, "replicas", c.replicas)?,
                strides: [
                    pa.layers,
                    pb.layers,
                    as_u32(OP, "replica stride", c.stride)?,
                    0,
                ],
            }),
            bindings: &[
                Bind::Tex(&pa.view),
                Bind::Tex(&pb.view),
                Bind::Buf(&c.buf.buffer),
                Bind::Sampler(&textures::nearest_sampler(gpu)),
                Bind::Buf(&epilogue.bias),
                Bind::Buf(&epilogue.mask),
            ],
            groups,
        },
    )?;
    let multiply = multiply.with_flops(2.0 * (m * n * k * c.replicas) as f64);
    let staged = StagedA {
        rows: m,
        cols: k,
        view: pa.view.clone(),
        rows_per_layer: pa.rows_per_layer as usize,
        layers: pa.layers as usize,
    };
    Ok((pa.dispatch.then(pb.dispatch).then(multiply), staged))
}
