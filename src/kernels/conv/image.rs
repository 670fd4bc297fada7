//! Images for the implicit-GEMM convolution: a pixel-major activation tensor (`[N·H·W, C]`,
//! channels padded to a multiple of 4) held in an rgba32float texture array that the
//! convolution kernels sample, so they read patches without an im2col matrix.
//!
//! Texel t (pixel t / cin4, channels 4·(t % cin4) ..) lies at column `t & 63`, row
//! `(t >> 6) & mask` of layer `t >> shift`: rows are 64 texels (256 floats, 1 KiB, so a
//! buffer whose rows are whole copies into it with a plain buffer-to-texture copy, a memcpy on
//! CPU drivers), and a layer holds a power of two of rows, so the kernels find a texel with
//! shifts and masks instead of divisions.

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::super::textures::texture_array;
use super::super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const STAGE_SRC: &str = crate::wgsl!("kernels/conv/stage.wgsl");

/// Floats in one texture row (64 rgba32float texels): whole rows copy into an image.
pub const ROW_FLOATS: usize = 256;

/// Where an image's texels lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    /// Texels of one replica's image.
    pub texels: usize,
    /// Texture rows per array layer (a power of two).
    pub rows_per_layer: usize,
    /// Array layers per replica.
    pub layers: usize,
}

impl ImageLayout {
    /// The layout of `texels` texels on `gpu`.
    pub fn of(gpu: &Gpu, op: &'static str, texels: usize) -> Result<ImageLayout> {
        let rows = texels.div_ceil(64).max(1);
        let limit = gpu.limits.max_texture_dimension_2d as usize;
        let rows_per_layer = rows_per_layer(rows, limit);
        let layers = rows.div_ceil(rows_per_layer);
        if layers > gpu.limits.max_texture_array_layers as usize {
            return Err(Error::shape(
                op,
                format!(
                    "an activation of {texels} texels needs {layers} texture layers; this \
                     device allows {}: use a smaller batch or SAMPA_MATMUL=tiled",
                    gpu.limits.max_texture_array_layers
                ),
            ));
        }
        Ok(ImageLayout {
            texels,
            rows_per_layer,
            layers,
        })
    }

    /// log2 of the texels per layer (the kernels' `shift`).
    pub fn shift(&self) -> u32 {
        6 + self.rows_per_layer.ilog2()
    }

    /// The row mask within a layer (the kernels' `mask`).
    pub fn mask(&self) -> u32 {
        (self.rows_per_layer - 1) as u32
    }
}

/// Rows per layer for an image of `rows` rows: a power of two the device's side `limit`
/// allows, and at most half the rows, so the image spans at least two layers. The textures
/// need two layers anyway (see [`texture`]); one layer of the next power of two would, with
/// its padding layer, take up to four times the rows.
pub(super) fn rows_per_layer(rows: usize, limit: usize) -> usize {
    let most = 1usize << limit.max(1).ilog2();
    let half = (rows / 2).max(1);
    (1usize << half.ilog2()).min(most)
}

/// A staged image: its texture, the layout of each replica's part, and the work that fills it.
pub struct Image {
    /// The texture array (replica r's image from layer `r * layout.layers`).
    pub texture: wgpu::Texture,
    /// Its view as a 2-D array, as the kernels bind it.
    pub view: wgpu::TextureView,
    /// Where each replica's texels lie.
    pub layout: ImageLayout,
    /// The copies or the kernel that fill it; record before the kernels that read it.
    pub stage: Dispatch,
}

fn texture(gpu: &Gpu, l: ImageLayout, replicas: usize, storage: bool) -> Result<wgpu::Texture> {
    // At least two layers: wgpu's GL backend makes a one-layer texture a plain 2-D texture,
    // which an array view cannot read (see matmul's staging).
    let layers = (l.layers * replicas).max(2);
    let mut usage = wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST;
    if storage {
        usage |= wgpu::TextureUsages::STORAGE_BINDING;
    }
    texture_array(
        gpu,
        "convolution image",
        (64, l.rows_per_layer, layers),
        usage,
    )
}

pub(super) fn array_view(t: &wgpu::Texture) -> wgpu::TextureView {
    t.create_view(&wgpu::TextureViewDescriptor {
        dimension: Some(wgpu::TextureViewDimension::D2Array),
        ..Default::default()
    })
}

/// The image of a pixel-major tensor of `texels` texels per replica in `src`, by copies: each
/// replica must start on a 16-byte boundary and its buffer hold whole 256-float rows past it.
pub fn copied(gpu: &Gpu, op: &'static str, src: View<'_>, texels: usize) -> Result<Image> {
    let texture = for_copies(gpu, op, texels, src.replicas)?;
    copied_to(gpu, op, src, texels, texture)
}

/// A texture that [`copied_to`] can stage `replicas` images of `texels` texels into.
pub fn for_copies(
    gpu: &Gpu,
    op: &'static str,
    texels: usize,
    replicas: usize,
) -> Result<wgpu::Texture> {
    texture(gpu, ImageLayout::of(gpu, op, texels)?, replicas, false)
}

/// As [`copied`], into `texture` (from [`for_copies`] with the same texel and replica
/// counts), which other images may share when their uses do not overlap.
pub fn copied_to(
    gpu: &Gpu,
    op: &'static str,
    src: View<'_>,
    texels: usize,
    texture: wgpu::Texture,
) -> Result<Image> {
    let layout = ImageLayout::of(gpu, op, texels)?;
    if (texture.depth_or_array_layers() as usize) < layout.layers * src.replicas
        || texture.height() as usize != layout.rows_per_layer
    {
        return Err(Error::shape(
            op,
            "the shared image texture was made for another size of activation",
        ));
    }
    let rows = texels.div_ceil(64);
    let floats = src.buf.buffer.size() as usize / 4;
    for r in 0..src.replicas {
        let start = src.offset + r * src.stride;
        if !start.is_multiple_of(4) || start + rows * ROW_FLOATS > floats {
            return Err(Error::shape(
                op,
                format!(
                    "replica {r} of the activations (from element {start}) does not hold whole \
                     rows of {ROW_FLOATS} floats for its image"
                ),
            ));
        }
    }
    let mut stage = Dispatch::empty();
    for r in 0..src.replicas {
        for l in 0..layout.layers {
            let first = l * layout.rows_per_layer;
            let height = layout.rows_per_layer.min(rows - first);
            let offset = 4 * (src.offset + r * src.stride + first * ROW_FLOATS) as u64;
            let size = wgpu::Extent3d {
                width: 64,
                height: height as u32,
                depth_or_array_layers: 1,
            };
            let layer = (r * layout.layers + l) as u32;
            stage = stage.then(Dispatch::copy_to_texture(
                &src.buf.buffer,
                offset,
                (ROW_FLOATS * 4) as u32,
                (&texture, layer),
                size,
            ));
        }
    }
    Ok(Image {
        view: array_view(&texture),
        texture,
        layout,
        stage,
    })
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct StageParams {
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub d: u32,
    pub e: u32,
    pub f: u32,
    pub g: u32,
    pub h: u32,
    pub i: u32,
    pub off: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// The image of an NCHW batch of `n` images of `c`×`h`×`w` in `src`, channels padded with
/// zeros to a multiple of 4 (`stage_nchw`).
pub fn from_nchw(
    gpu: &Gpu,
    (n, c, h, w): (usize, usize, usize, usize),
    src: View<'_>,
) -> Result<Image> {
    const OP: &str = "conv image";
    src.expect_len(OP, "batch", n * c * h * w)?;
    let cin4 = c.div_ceil(4);
    let texels = n * h * w * cin4;
    let layout = ImageLayout::of(gpu, OP, texels)?;
    let texture = texture(gpu, layout, src.replicas, true)?;
    let view = array_view(&texture);
    let params = StageParams {
        a: as_u32(OP, "n", n)?,
        b: as_u32(OP, "c", c)?,
        c: as_u32(OP, "h", h)?,
        d: as_u32(OP, "w", w)?,
        e: cin4 as u32,
        f: layout.shift(),
        g: layout.mask(),
        h: as_u32(OP, "texels", texels)?,
        i: 0,
        off: as_u32(OP, "offset", src.offset)?,
        _pad0: 0,
        _pad1: 0,
    };
    let stage = build(
        gpu,
        Launch {
            label: "conv_stage",
            source: STAGE_SRC,
            entry: "stage_nchw",
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&params)),
            replicas: Some(Replicas {
                count: as_u32(OP, "replicas", src.replicas)?,
                strides: [
                    as_u32(OP, "stride", src.stride)?,
                    layout.layers as u32,
                    0,
                    0,
                ],
            }),
            bindings: &[Bind::Buf(&src.buf.buffer), Bind::Tex(&view)],
            groups: grid_1d(gpu, as_u32(OP, "groups", texels.div_ceil(256))?),
        },
    )?;
    Ok(Image {
        texture,
        view,
        layout,
        stage,
    })
}

/// An error unless `im` holds `texels` texels a replica.
pub(super) fn expect_image(op: &'static str, im: &Image, texels: usize) -> Result<()> {
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

/// The stage kernels' uniform layouts, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<super::super::layout::UniformLayout> {
    use super::super::layout::uniform_layout;
    vec![
        uniform_layout!(
            "conv_stage",
            STAGE_SRC,
            "Params",
            StageParams {
                a,
                b,
                c,
                d,
                e,
                f,
                g,
                h,
                i,
                off,
                _pad0,
                _pad1,
            }
        )
        .replicated(),
    ]
}

pub(super) const SRC: &str = STAGE_SRC;
