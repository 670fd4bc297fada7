//! A convolution's weight and bias gradients as an implicit GEMM over the batch's pixels: dy
//! against the patches of the layer's input, both read from their images (`wgrad.wgsl`), in
//! splits that `reduce.wgsl` adds in order into PyTorch's `[cout, cin, k, k]`.

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::super::textures::nearest_sampler as sampler;
use super::super::view::View;
use super::geometry::Conv;
use super::image::{Image, expect_image};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};

const WGRAD_SRC: &str = crate::wgsl!("kernels/conv/wgrad.wgsl");
const REDUCE_SRC: &str = crate::wgsl!("kernels/conv/reduce.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct WgradParams {
    o: u32,
    o4: u32,
    q4: u32,
    taps4: u32,
    cin4: u32,
    h: u32,
    w: u32,
    ho: u32,
    wo: u32,
    k: u32,
    stride: u32,
    pad: u32,
    pixels: u32,
    per_split: u32,
    splits: u32,
    x_shift: u32,
    x_mask: u32,
    dy_shift: u32,
    dy_mask: u32,
    _pad0: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ReduceParams {
    o: u32,
    cin: u32,
    k: u32,
    cin_p: u32,
    q4: u32,
    splits: u32,
    off_w: u32,
    off_b: u32,
    bias: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

/// The uniform layouts of the weight gradient's kernels, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<super::super::layout::UniformLayout> {
    use super::super::layout::uniform_layout;
    let wgrad = uniform_layout!(
        "conv_wgrad",
        WGRAD_SRC,
        "Params",
        WgradParams {
            o,
            o4,
            q4,
            taps4,
            cin4,
            h,
            w,
            ho,
            wo,
            k,
            stride,
            pad,
            pixels,
            per_split,
            splits,
            x_shift,
            x_mask,
            dy_shift,
            dy_mask,
            _pad0,
        }
    );
    let reduce = uniform_layout!(
        "conv_reduce",
        REDUCE_SRC,
        "Params",
        ReduceParams {
            o,
            cin,
            k,
            cin_p,
            q4,
            splits,
            off_w,
            off_b,
            bias,
            _pad0,
            _pad1,
            _pad2,
        }
    );
    vec![wgrad.replicated(), reduce.replicated()]
}

/// Pixels one split sums at most: llvmpipe stops a shader's loops after 65535 iterations in
/// all (see the tiled matmul's CHUNK), and the pixel loop is wgrad.wgsl's only long one.
const MAX_PER_SPLIT: usize = 32768;

/// How many consecutive pixel ranges the weight gradient's sum is split into: enough
/// invocations to fill a device (about 2048), at least 64 pixels a range, at most 64 ranges
/// unless more are needed to keep a range within [`MAX_PER_SPLIT`].
fn splits(g: &Conv, q4: usize) -> usize {
    let invocations = (g.cout.div_ceil(16) * q4.div_ceil(2)).max(1);
    let pixels = g.out_pixels();
    let fill = (2048 / invocations)
        .clamp(1, 64)
        .min(pixels.div_ceil(64).max(1));
    fill.max(pixels.div_ceil(MAX_PER_SPLIT))
}

/// Prepare the weight gradient `[cout, cin, k, k]` into `dw` and, when given, the bias
/// gradient into `db`, from the images of x and dy. Returns the work and its scratch buffer.
pub fn prepare_weight_grad(
    gpu: &Gpu,
    g: Conv,
    (x, dy): (&Image, &Image),
    dw: View<'_>,
    db: Option<View<'_>>,
) -> Result<(Dispatch, GpuBuf<f32>)> {
    const OP: &str = "conv";
    g.check(OP)?;
    if !g.cout.is_multiple_of(4) {
        return Err(Error::shape(
            OP,
            "the weight gradient needs output channels in 4s",
        ));
    }
    dw.expect_len(OP, "weight gradient", g.weight_len())?;
    expect_image(OP, x, g.n * g.h * g.w * g.cin4())?;
    expect_image(OP, dy, g.out_pixels() * g.cout / 4)?;
    let taps4 = g.k * g.k * g.cin4();
    let q4 = taps4 + db.is_some() as usize;
    let splits = splits(&g, q4);
    let pixels = g.out_pixels();
    let per_split = pixels.div_ceil(splits);
    let part_len = splits * g.cout * 4 * q4;
    let replicas = dw.replicas;
    // Written by the sums, read by the reduction right after, then dead: shared.
    let part = gpu.scratch::<f32>(replicas * part_len, "weight gradient partial sums")?;
    let (ho, wo) = g.out_hw();
    let params = WgradParams {
        o: as_u32(OP, "channels", g.cout)?,
        o4: (g.cout / 4) as u32,
        q4: as_u32(OP, "taps", q4)?,
        taps4: taps4 as u32,
        cin4: g.cin4() as u32,
        h: as_u32(OP, "h", g.h)?,
        w: as_u32(OP, "w", g.w)?,
        ho: ho as u32,
        wo: wo as u32,
        k: g.k as u32,
        stride: as_u32(OP, "stride", g.stride)?,
        pad: g.pad as u32,
        pixels: as_u32(OP, "pixels", pixels)?,
        per_split: per_split as u32,
        splits: splits as u32,
        x_shift: x.layout.shift(),
        x_mask: x.layout.mask(),
        dy_shift: dy.layout.shift(),
        dy_mask: dy.layout.mask(),
        _pad0: 0,
    };
    let sums = build(
        gpu,
        Launch {
            label: "conv_wgrad",
            source: WGRAD_SRC,
            entry: "main",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(Replicas {
                count: as_u32(OP, "replicas", replicas)?,
                strides: [
                    x.layout.layers as u32,
                    dy.layout.layers as u32,
                    as_u32(OP, "stride", part_len)?,
                    0,
                ],
            }),
            bindings: &[
                Bind::Tex(&x.view),
                Bind::Tex(&dy.view),
                Bind::Buf(&part.buffer),
                Bind::Sampler(&sampler(gpu)),
            ],
            groups: [
                as_u32(OP, "groups", q4.div_ceil(2).div_ceil(8))?,
                as_u32(OP, "groups", (g.cout / 4).div_ceil(4).div_ceil(8))?,
                splits as u32,
            ],
        },
    )?;
    // Each of cout × 4·q4 sums runs over every output pixel.
    let flops = 2.0 * (g.cout * 4 * q4 * pixels * replicas) as f64;
    let sums = sums.with_flops(flops);
    let reduce = reduce(gpu, &g, (q4, splits, part_len), &part, dw, db)?;
    Ok((sums.then(reduce), part))
}

fn reduce(
    gpu: &Gpu,
    g: &Conv,
    (q4, splits, part_len): (usize, usize, usize),
    part: &GpuBuf<f32>,
    dw: View<'_>,
    db: Option<View<'_>>,
) -> Result<Dispatch> {
    const OP: &str = "conv";
    if let Some(db) = db {
        db.expect_len(OP, "bias gradient", g.cout)?;
        if db.buf.buffer != dw.buf.buffer || db.rep() != dw.rep() {
            return Err(Error::shape(
                OP,
                "the weight and bias gradients must lie in one buffer with one replica stride",
            ));
        }
    }
    let params = ReduceParams {
        o: g.cout as u32,
        cin: g.cin as u32,
        k: g.k as u32,
        cin_p: 4 * g.cin4() as u32,
        q4: q4 as u32,
        splits: splits as u32,
        off_w: as_u32(OP, "offset", dw.offset)?,
        off_b: as_u32(OP, "offset", db.map_or(0, |v| v.offset))?,
        bias: db.is_some() as u32,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    let outputs = g.weight_len() + if db.is_some() { g.cout } else { 0 };
    build(
        gpu,
        Launch {
            label: "conv_reduce",
            source: REDUCE_SRC,
            entry: "reduce",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(Replicas {
                count: as_u32(OP, "replicas", dw.replicas)?,
                strides: [
                    as_u32(OP, "stride", part_len)?,
                    as_u32(OP, "stride", dw.stride)?,
                    0,
                    0,
                ],
            }),
            bindings: &[Bind::Buf(&part.buffer), Bind::Buf(&dw.buf.buffer)],
            groups: grid_1d(gpu, as_u32(OP, "groups", outputs.div_ceil(256))?),
        },
    )
}
