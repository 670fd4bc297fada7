//! Convolution as an implicit GEMM on images (see [`super::image`]): the forward pass and the
//! data gradient read their patches straight from the activations (`implicit.wgsl`, the weight
//! packed by `stage.wgsl`), and the weight and bias gradients sum dy against the patches over
//! the batch's pixels in splits (`wgrad.wgsl`, then `reduce.wgsl`). No im2col or col2im
//! matrix exists; the products read their operands through texture samples, the register
//! form for CPU rasterisers (`reg` / `reg8`, whose ROWS they share).

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::super::view::View;
use super::image::{self, Image, StageParams};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};

const FWD_SRC: &str = crate::wgsl!("kernels/conv/implicit.wgsl");
const WGRAD_SRC: &str = crate::wgsl!("kernels/conv/wgrad.wgsl");
const REDUCE_SRC: &str = crate::wgsl!("kernels/conv/reduce.wgsl");

/// A convolution's geometry: `n` images of `cin`×`h`×`w` to `cout` channels by a `k`×`k`
/// kernel with `stride` and zero padding `pad` (PyTorch's `Conv2d`, output side
/// `(h + 2·pad − k) / stride + 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv {
    /// Images in the batch.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel side.
    pub k: usize,
    /// Stride (a power of two).
    pub stride: usize,
    /// Zero padding on each side.
    pub pad: usize,
}

impl Conv {
    /// Output height and width.
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.k) / self.stride + 1,
            (self.w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }

    /// Output pixels of the batch.
    pub fn out_pixels(&self) -> usize {
        let (ho, wo) = self.out_hw();
        self.n * ho * wo
    }

    /// Elements of the weight `[cout, cin, k, k]`.
    pub fn weight_len(&self) -> usize {
        self.cout * self.cin * self.k * self.k
    }

    /// Texels per input pixel (channels padded to a multiple of 4).
    pub fn cin4(&self) -> usize {
        self.cin.div_ceil(4)
    }

    /// Multiply-adds of the forward pass (each gradient has as many).
    pub fn flops(&self) -> f64 {
        2.0 * (self.out_pixels() * self.cout * self.cin * self.k * self.k) as f64
    }

    /// An error unless the geometry is one the kernels compute.
    pub fn check(&self, op: &'static str) -> Result<()> {
        let fits = self.h + 2 * self.pad >= self.k && self.w + 2 * self.pad >= self.k;
        if [self.n, self.cin, self.cout, self.k, self.stride].contains(&0) || !fits {
            return Err(Error::shape(op, format!("invalid convolution {self:?}")));
        }
        if self.pad >= self.k || !self.stride.is_power_of_two() {
            return Err(Error::shape(
                op,
                format!("padding below the kernel and a power-of-two stride needed: {self:?}"),
            ));
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FwdParams {
    m: u32,
    n: u32,
    n4: u32,
    cin4: u32,
    h: u32,
    w: u32,
    ho: u32,
    wo: u32,
    k: u32,
    stride: u32,
    pad: u32,
    dshift: u32,
    layer_rows_b: u32,
    img_shift: u32,
    img_mask: u32,
    bias: u32,
    off_b: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

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

/// The uniform layouts of the implicit convolution's kernels, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<super::super::layout::UniformLayout> {
    use super::super::layout::uniform_layout;
    let fwd = uniform_layout!(
        "conv_implicit",
        FWD_SRC,
        "Params",
        FwdParams {
            m,
            n,
            n4,
            cin4,
            h,
            w,
            ho,
            wo,
            k,
            stride,
            pad,
            dshift,
            layer_rows_b,
            img_shift,
            img_mask,
            bias,
            off_b,
            _pad0,
            _pad1,
            _pad2,
        }
    );
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
    [fwd, wgrad, reduce]
        .into_iter()
        .map(|l| l.replicated())
        .chain(image::uniform_layouts())
        .collect()
}

/// A packed weight: the product's B operand as a texture array.
struct Packed {
    view: wgpu::TextureView,
    rows_per_layer: u32,
    layers: u32,
    dispatch: Dispatch,
}

/// Pack `weight` as the `(k·k·cin_p) × n` operand of a product with `cin` input channels (of
/// `cin_p`, padded) and `n` output channels; `flip` packs the data gradient's transposed,
/// flipped kernel (`pack_weight` in `stage.wgsl`).
fn pack_weight(
    gpu: &Gpu,
    g: &Conv,
    (cin, cin_p, n): (usize, usize, usize),
    flip: bool,
    weight: View<'_>,
) -> Result<Packed> {
    const OP: &str = "conv";
    let rows = g.k * g.k * cin_p;
    let texels = n.div_ceil(4);
    let limit = gpu.limits.max_texture_dimension_2d as usize;
    let layers = rows.div_ceil(limit / 4 * 4).max(2);
    let rows_per_layer = rows.div_ceil(layers).div_ceil(4) * 4;
    if texels > limit || layers * weight.replicas > gpu.limits.max_texture_array_layers as usize {
        return Err(Error::shape(
            OP,
            format!("the weight of {g:?} is too large to stage on this device"),
        ));
    }
    let usage = wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::TEXTURE_BINDING;
    let size = (texels, rows_per_layer, layers * weight.replicas);
    let texture = image::texture_array(gpu, "packed convolution weight", size, usage)?;
    let view = image::array_view(&texture);
    let params = StageParams {
        a: as_u32(OP, "rows", rows)?,
        b: as_u32(OP, "n", n)?,
        c: texels as u32,
        d: rows_per_layer as u32,
        e: as_u32(OP, "cin", cin)?,
        f: as_u32(OP, "cin", cin_p)?,
        g: as_u32(OP, "k", g.k)?,
        h: flip as u32,
        i: as_u32(OP, "channels", if flip { n } else { cin })?,
        off: as_u32(OP, "offset", weight.offset)?,
        _pad0: 0,
        _pad1: 0,
    };
    let dispatch = build(
        gpu,
        Launch {
            label: "conv_stage",
            source: image::SRC,
            entry: "pack_weight",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(Replicas {
                count: as_u32(OP, "replicas", weight.replicas)?,
                strides: [as_u32(OP, "stride", weight.stride)?, layers as u32, 0, 0],
            }),
            bindings: &[Bind::Buf(&weight.buf.buffer), Bind::Tex(&view)],
            groups: [
                as_u32(OP, "groups", texels.div_ceil(16))?,
                as_u32(OP, "groups", rows_per_layer.div_ceil(16))?,
                layers as u32,
            ],
        },
    )?;
    Ok(Packed {
        view,
        rows_per_layer: rows_per_layer as u32,
        layers: layers as u32,
        dispatch,
    })
}

fn sampler(gpu: &Gpu) -> wgpu::Sampler {
    gpu.device.create_sampler(&wgpu::SamplerDescriptor {
        label: Some("convolution operands"),
        ..Default::default()
    })
}

/// The product of `implicit.wgsl` over image `x`: output grid `(ho, wo)` of `n` images,
/// input `(h, w)` with `cin4` texels a pixel, `stride`, `pad`, dilation `1 << dshift`.
struct Product {
    n: usize,
    hw: (usize, usize),
    out_hw: (usize, usize),
    cin4: usize,
    k: usize,
    stride: usize,
    pad: usize,
    dshift: u32,
    cols: usize,
}

#[allow(clippy::too_many_arguments)]
fn implicit_product(
    gpu: &Gpu,
    rows: usize,
    p: Product,
    x: &Image,
    b: &Packed,
    bias: Option<View<'_>>,
    c: View<'_>,
) -> Result<Dispatch> {
    const OP: &str = "conv";
    let m = p.n * p.out_hw.0 * p.out_hw.1;
    c.expect_len(OP, "output", m * p.cols)?;
    // The kernel stores texels of C as vec4s.
    if !p.cols.is_multiple_of(4) || !c.offset.is_multiple_of(4) || !c.stride.is_multiple_of(4) {
        return Err(Error::shape(
            OP,
            format!(
                "the output needs channels and offsets in 4s, got {} channels",
                p.cols
            ),
        ));
    }
    let params = FwdParams {
        m: as_u32(OP, "output pixels", m)?,
        n: as_u32(OP, "channels", p.cols)?,
        n4: p.cols.div_ceil(4) as u32,
        cin4: as_u32(OP, "channels", p.cin4)?,
        h: as_u32(OP, "h", p.hw.0)?,
        w: as_u32(OP, "w", p.hw.1)?,
        ho: as_u32(OP, "h", p.out_hw.0)?,
        wo: as_u32(OP, "w", p.out_hw.1)?,
        k: as_u32(OP, "k", p.k)?,
        stride: as_u32(OP, "stride", p.stride)?,
        pad: as_u32(OP, "pad", p.pad)?,
        dshift: p.dshift,
        layer_rows_b: b.rows_per_layer,
        img_shift: x.layout.shift(),
        img_mask: x.layout.mask(),
        bias: bias.is_some() as u32,
        off_b: as_u32(OP, "offset", bias.map_or(0, |v| v.offset))?,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    let bias_rep = bias.map_or((c.replicas, 0), |v| v.rep());
    if bias_rep.0 != c.replicas {
        return Err(Error::shape(
            OP,
            "the bias and the output differ in replicas",
        ));
    }
    // The shader reads the bias binding only when p.bias = 1, but every binding needs a
    // buffer, and the output's cannot be bound twice: a bias-free product binds a dummy.
    let dummy;
    let bias_buf = match bias {
        Some(v) => &v.buf.buffer,
        None => {
            dummy = gpu.zeros::<f32>(4, "no bias")?;
            &dummy.buffer
        }
    };
    // Column pairs (two texels) per row of invocations, up to 8; the rest of 64 go to rows.
    let wx = p.cols.div_ceil(8).next_power_of_two().min(8);
    let wy = 64 / wx;
    let (cols_per_group, block_rows) = (8 * wx, wy * rows);
    build(
        gpu,
        Launch {
            label: "conv_implicit",
            source: FWD_SRC,
            entry: "main",
            constants: &[("ROWS", rows as f64), ("WX", wx as f64), ("WY", wy as f64)],
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(Replicas {
                count: as_u32(OP, "replicas", c.replicas)?,
                strides: [
                    x.layout.layers as u32,
                    b.layers,
                    as_u32(OP, "stride", c.stride)?,
                    as_u32(OP, "stride", bias_rep.1)?,
                ],
            }),
            bindings: &[
                Bind::Tex(&x.view),
                Bind::Tex(&b.view),
                Bind::Buf(&c.buf.buffer),
                Bind::Sampler(&sampler(gpu)),
                Bind::Buf(bias_buf),
            ],
            groups: [
                as_u32(OP, "groups", p.cols.div_ceil(cols_per_group))?,
                as_u32(OP, "groups", m.div_ceil(block_rows))?,
                1,
            ],
        },
    )
}

/// Prepare y = conv(x) + bias, y pixel-major `[n·ho·wo, cout]`, from the image of x (its
/// texels per pixel `g.cin4()`); `rows` is the register form's rows per invocation (16 or 8).
pub fn prepare_forward(
    gpu: &Gpu,
    rows: usize,
    g: Conv,
    x: &Image,
    weight: View<'_>,
    bias: Option<View<'_>>,
    y: View<'_>,
) -> Result<Dispatch> {
    g.check("conv")?;
    weight.expect_len("conv", "weight", g.weight_len())?;
    expect_image("conv", x, g.n * g.h * g.w * g.cin4())?;
    let packed = pack_weight(gpu, &g, (g.cin, 4 * g.cin4(), g.cout), false, weight)?;
    let product = Product {
        n: g.n,
        hw: (g.h, g.w),
        out_hw: g.out_hw(),
        cin4: g.cin4(),
        k: g.k,
        stride: g.stride,
        pad: g.pad,
        dshift: 0,
        cols: g.cout,
    };
    let multiply = implicit_product(gpu, rows, product, x, &packed, bias, y)?;
    Ok(packed.dispatch.then(multiply))
}

/// Prepare dx (pixel-major `[n·h·w, cin]`) from the image of dy (`cout` a multiple of 4): the
/// convolution of dy, dilated by the stride, with the flipped, transposed kernel.
pub fn prepare_data_grad(
    gpu: &Gpu,
    rows: usize,
    g: Conv,
    dy: &Image,
    weight: View<'_>,
    dx: View<'_>,
) -> Result<Dispatch> {
    g.check("conv")?;
    if !g.cout.is_multiple_of(4) {
        return Err(Error::shape(
            "conv",
            format!(
                "the data gradient's image needs output channels in 4s, got {}",
                g.cout
            ),
        ));
    }
    weight.expect_len("conv", "weight", g.weight_len())?;
    expect_image("conv", dy, g.out_pixels() * g.cout / 4)?;
    let packed = pack_weight(gpu, &g, (g.cout, g.cout, g.cin), true, weight)?;
    let product = Product {
        n: g.n,
        hw: g.out_hw(),
        out_hw: (g.h, g.w),
        cin4: g.cout / 4,
        k: g.k,
        stride: 1,
        pad: g.k - 1 - g.pad,
        dshift: g.stride.ilog2(),
        cols: g.cin,
    };
    let multiply = implicit_product(gpu, rows, product, dy, &packed, None, dx)?;
    Ok(packed.dispatch.then(multiply))
}

fn expect_image(op: &'static str, im: &Image, texels: usize) -> Result<()> {
    if im.layout.texels != texels {
        return Err(Error::shape(
            op,
            format!(
                "an image of {} texels where {texels} are needed",
                im.layout.texels
            ),
        ));
    }
    Ok(())
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
    let part = gpu.zeros::<f32>(replicas * part_len, "weight gradient partial sums")?;
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
