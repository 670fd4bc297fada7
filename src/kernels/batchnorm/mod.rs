//! BatchNorm2d on pixel-major activations `[M, C]` (`batchnorm.wgsl`): the training forward
//! with the batch's own statistics, the evaluation forward with given ones, and the backward
//! with dγ, dβ and dx; a ReLU after the normalisation can be fused into both directions.
//! PyTorch's semantics: the biased batch variance normalises, eps is 1e-5. The running
//! statistics are the host's business ([`running_update`]): they are a handful of values per
//! channel, read back with the step's metrics from the one pass that updates them.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

mod reference;
mod running;
mod shape;

pub use reference::{moments, reference_backward, reference_eval, reference_forward};
pub use running::{eval_stats, running_update};
use shape::CHUNK;
pub use shape::{BnShape, EPS, MOMENTUM, Rows, Window};

use super::dispatch::{Dispatch, SyncPoint};
use super::launch::{Bind, Launch, Params, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/batchnorm/batchnorm.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct BnParams {
    m: u32,
    c4: u32,
    chunk: u32,
    chunks: u32,
    prm: u32,
    eps: f32,
    xs4: u32,
    xo4: u32,
    ys4: u32,
    yo4: u32,
    _pad0: u32,
    _pad1: u32,
    rs: [u32; 8],
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![uniform_layout!(
        "batchnorm",
        SRC,
        "Params",
        BnParams {
            m,
            c4,
            chunk,
            chunks,
            prm,
            eps,
            xs4,
            xo4,
            ys4,
            yo4,
            _pad0,
            _pad1,
            rs
        }
    )]
}

/// The operands of one launch, by binding: x, y (dx), part, stats, γβ, dy, mask, dγdβ.
type Operands<'a> = [Option<View<'a>>; 8];

/// Bindings 5 and 8 are scalar views at the tensor's offset; the others are whole vec4
/// buffers.
const SCALAR: [bool; 8] = [false, false, false, false, true, false, false, true];

/// The bindings (1..=8) each entry point reads or writes.
fn used(op: &str) -> [bool; 8] {
    let on = |list: &[usize]| std::array::from_fn(|i| list.contains(&(i + 1)));
    match op {
        "bn_sum" | "bn_sqdev" => on(&[1, 3, 4]),
        "bn_mean" | "bn_var" | "bn_mean_tree" | "bn_var_tree" => on(&[3, 4]),
        "bn_apply" => on(&[1, 2, 4, 5]),
        "bn_dsum" => on(&[1, 3, 4, 6, 7]),
        "bn_dparams" | "bn_dparams_tree" => on(&[3, 4, 8]),
        _ => on(&[1, 2, 4, 5, 6, 7]),
    }
}

/// How the per-quad sums over chunks run: `Serial`, one invocation per channel quad looping
/// over the chunks (CPU adapters, whose SIMD lanes and threads the loop suits), or `Tree`, one
/// workgroup per quad adding them as a tree (GPUs). Both sum in a fixed order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    /// One invocation per quad.
    Serial,
    /// One workgroup per quad.
    Tree,
}

impl Reduce {
    /// The form for `gpu`.
    pub fn for_gpu(gpu: &Gpu) -> Reduce {
        if gpu.adapter.is_cpu() {
            Reduce::Serial
        } else {
            Reduce::Tree
        }
    }

    /// The entry point of the per-quad sum `op` (`bn_mean`, `bn_var`, `bn_dparams`) and how
    /// its grid counts.
    fn entry(self, op: &'static str) -> (&'static str, Width) {
        match (self, op) {
            (Reduce::Serial, _) => (op, Width::Quads),
            (Reduce::Tree, "bn_mean") => ("bn_mean_tree", Width::QuadGroups),
            (Reduce::Tree, "bn_var") => ("bn_var_tree", Width::QuadGroups),
            (Reduce::Tree, _) => ("bn_dparams_tree", Width::QuadGroups),
        }
    }
}

/// What a launch's `count` counts: elements (256 per workgroup), quads (64 per workgroup),
/// or quads with a workgroup each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Width {
    Elements,
    Quads,
    QuadGroups,
}

fn launch(
    gpu: &Gpu,
    (op, s, flags, rows): (&'static str, BnShape, [bool; 2], Rows),
    ops: &Operands<'_>,
    count: usize,
    width: Width,
) -> Result<Dispatch> {
    s.check(op)?;
    let (xs4, xo4) = Rows::quads(op, s, rows.x)?;
    let (ys4, yo4) = Rows::quads(op, s, rows.y)?;
    // A bind group may only hold the bindings its entry point uses.
    let used = used(op);
    let ops: Operands<'_> = std::array::from_fn(|i| ops[i].filter(|_| used[i]));
    let present: Vec<_> = ops.iter().flatten().collect();
    let replicas = present.first().map_or(1, |v| v.replicas);
    let mut rs = [0u32; 8];
    let mut prm = None;
    for (i, v) in ops.iter().enumerate() {
        let Some(v) = v else { continue };
        let ok = v.replicas == replicas
            && if SCALAR[i] {
                prm.is_none_or(|o| o == v.offset) && v.len >= 2 * s.c
            } else {
                v.offset == 0 && v.stride.is_multiple_of(4)
            };
        if !ok {
            return Err(Error::shape(
                op,
                format!(
                    "operand {} does not fit: whole vec4 buffers with one replica count, and \
                     γβ and dγdβ at one offset",
                    i + 1
                ),
            ));
        }
        if SCALAR[i] {
            prm = Some(v.offset);
        }
        rs[i] = as_u32(op, "replica stride", v.stride)?;
    }
    let p = BnParams {
        m: as_u32(op, "m", s.m)?,
        c4: as_u32(op, "c", s.c / 4)?,
        chunk: CHUNK as u32,
        chunks: as_u32(op, "chunks", s.chunks())?,
        prm: as_u32(op, "offset", prm.unwrap_or(0))?,
        eps: EPS,
        xs4,
        xo4,
        ys4,
        yo4,
        _pad0: 0,
        _pad1: 0,
        rs,
    };
    let bindings: Vec<Bind<'_>> = ops
        .iter()
        .map(|v| v.map_or(Bind::Unused, |v| Bind::Buf(&v.buf.buffer)))
        .collect();
    let mut groups = match width {
        Width::Elements => grid_1d(gpu, as_u32(op, "groups", count.div_ceil(256))?),
        Width::Quads => [count.div_ceil(64) as u32, 1, 1],
        Width::QuadGroups => [as_u32(op, "groups", count)?, 1, 1],
    };
    groups[2] = as_u32(op, "replicas", replicas)?;
    build(
        gpu,
        Launch {
            label: "batchnorm",
            source: SRC,
            entry: op,
            constants: &[
                ("RELU", flags[0] as u8 as f64),
                ("MASK", flags[1] as u8 as f64),
                ("ACCUM", rows.accumulate as u8 as f64),
            ],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: None,
            bindings: &bindings,
            groups,
        },
    )
}

/// What a BatchNorm launch reads and writes: views as in [`prepare_forward`].
#[derive(Clone, Copy)]
pub struct BnIo<'a> {
    /// The layer's input `[M, C]`.
    pub x: View<'a>,
    /// Its output (forward) or the gradient with respect to x (backward).
    pub y: View<'a>,
    /// [`BnShape::part_len`] values per replica.
    pub part: View<'a>,
    /// [`BnShape::stats_len`] values per replica.
    pub stats: View<'a>,
    /// γ then β (2C values) inside the parameter vector.
    pub gamma_beta: View<'a>,
    /// How x and y lie in their buffers.
    pub rows: Rows,
}

impl BnIo<'_> {
    fn check(&self, op: &'static str, s: BnShape) -> Result<()> {
        self.x.expect_len(op, "x", Rows::len(s, self.rows.x))?;
        self.y.expect_len(op, "y", Rows::len(s, self.rows.y))?;
        self.part.expect_len(op, "part", s.part_len())?;
        self.stats.expect_len(op, "stats", s.stats_len())
    }
}

/// Prepare the training forward: the batch's mean and biased variance into `stats`, then
/// y = (x − mean)/√(var + eps)·γ + β, and max(y, 0) when `relu`.
pub fn prepare_forward(gpu: &Gpu, s: BnShape, relu: bool, io: BnIo<'_>) -> Result<Dispatch> {
    prepare_forward_with(gpu, Reduce::for_gpu(gpu), s, relu, io)
}

/// [`prepare_forward`] with the sums' form given.
pub fn prepare_forward_with(
    gpu: &Gpu,
    reduce: Reduce,
    s: BnShape,
    relu: bool,
    io: BnIo<'_>,
) -> Result<Dispatch> {
    io.check("bn_forward", s)?;
    let sums = [
        Some(io.x),
        None,
        Some(io.part),
        Some(io.stats),
        None,
        None,
        None,
        None,
    ];
    let per_chunk = s.chunks() * s.c / 4;
    let mut d = Dispatch::empty();
    // SyncBatchNorm: the mean, then the variance about the combined mean, combined over a
    // data-parallel step's processes before the launches that read them.
    let syncs = [
        sync_point(&io, 0..s.c, None),
        sync_point(&io, 2 * s.c..3 * s.c, Some((s.c, EPS))),
    ];
    for ((partials, total), sync) in [("bn_sum", "bn_mean"), ("bn_sqdev", "bn_var")]
        .into_iter()
        .zip(syncs)
    {
        let (total, width) = reduce.entry(total);
        d = d.then(launch(
            gpu,
            (partials, s, [false; 2], io.rows),
            &sums,
            per_chunk,
            Width::Elements,
        )?);
        d = d.then(launch(
            gpu,
            (total, s, [false; 2], io.rows),
            &sums,
            s.c / 4,
            width,
        )?);
        d = d.then(Dispatch::sync(sync));
    }
    Ok(d.then(prepare_apply(gpu, s, relu, io)?))
}

/// Prepare the normalisation alone with the statistics already in `stats` (evaluation, with
/// the host's running statistics written there as mean and 1/√(var + eps)).
pub fn prepare_apply(gpu: &Gpu, s: BnShape, relu: bool, io: BnIo<'_>) -> Result<Dispatch> {
    io.check("bn_apply", s)?;
    let ops = [
        Some(io.x),
        Some(io.y),
        None,
        Some(io.stats),
        Some(io.gamma_beta),
        None,
        None,
        None,
    ];
    launch(
        gpu,
        ("bn_apply", s, [relu, false], io.rows),
        &ops,
        s.m * s.c / 4,
        Width::Elements,
    )
}

/// Prepare the backward from the statistics the forward left in `stats`: dγ and dβ into
/// `grads` (at γβ's offset in the gradient vector) and dx into `io.y`. The gradient `dy` is
/// gated by `mask > 0` when a mask is given (the fused ReLU's output, or the output of a ReLU
/// after a residual add).
pub fn prepare_backward(
    gpu: &Gpu,
    s: BnShape,
    io: BnIo<'_>,
    dy_mask: (View<'_>, Option<View<'_>>),
    grads: View<'_>,
) -> Result<Dispatch> {
    prepare_backward_with(gpu, Reduce::for_gpu(gpu), s, io, dy_mask, grads)
}

/// [`prepare_backward`] with the sums' form given.
pub fn prepare_backward_with(
    gpu: &Gpu,
    reduce: Reduce,
    s: BnShape,
    io: BnIo<'_>,
    (dy, mask): (View<'_>, Option<View<'_>>),
    grads: View<'_>,
) -> Result<Dispatch> {
    io.check("bn_backward", s)?;
    dy.expect_len("bn_backward", "dy", s.m * s.c)?;
    let ops = [
        Some(io.x),
        Some(io.y),
        Some(io.part),
        Some(io.stats),
        Some(io.gamma_beta),
        Some(dy),
        // Without a mask the shader never reads binding 7, but its layout still has it.
        Some(mask.unwrap_or(dy)),
        Some(grads),
    ];
    let flags = [false, mask.is_some()];
    let per_chunk = s.chunks() * s.c / 4;
    let at = |op| (op, s, flags, io.rows);
    let sums = launch(gpu, at("bn_dsum"), &ops, per_chunk, Width::Elements)?;
    let (total, width) = reduce.entry("bn_dparams");
    let params = launch(gpu, at(total), &ops, s.c / 4, width)?;
    // SyncBatchNorm: Σd and Σd·xhat combined over the processes before dx reads them.
    let sync = Dispatch::sync(sync_point(&io, 3 * s.c..5 * s.c, None));
    let dx = launch(gpu, at("bn_dx"), &ops, s.m * s.c / 4, Width::Elements)?;
    Ok(sums.then(params).then(sync).then(dx))
}

/// The synchronisation point of the statistics `values` (of each replica's [`BnShape::stats_len`]
/// run in `io.stats`). A share-weighted sum over the processes is the whole batch's value: each
/// process's mean, variance about the common mean, Σd and Σd·xhat are over its own rows, and
/// its share of the batch is its share of the rows. The backward's sums so combined are also
/// what bn_dx needs on each process: its dy is the gradient of its own shard's mean loss, the
/// whole batch's gradient divided by its share, so the whole batch's Σd and Σd·xhat enter
/// its dx formula (which divides by its own rows) unscaled.
fn sync_point(
    io: &BnIo<'_>,
    values: std::ops::Range<usize>,
    invstd: Option<(usize, f32)>,
) -> SyncPoint {
    let o = io.stats.offset;
    SyncPoint {
        buf: io.stats.buf.clone(),
        replicas: io.stats.replicas,
        stride: io.stats.stride,
        values: o + values.start..o + values.end,
        invstd: invstd.map(|(at, eps)| (o + at, eps)),
    }
}
