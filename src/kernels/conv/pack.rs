//! The weight packed as the implicit product's B operand (`pack_weight` in `stage.wgsl`).

use super::super::dispatch::Dispatch;
use super::super::launch::{Bind, Launch, Params, Replicas, as_u32, build};
use super::super::textures;
use super::super::view::View;
use super::geometry::Conv;
use super::image::{self, StageParams};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// A packed weight: the product's B operand as a texture array.
pub(super) struct Packed {
    pub view: wgpu::TextureView,
    pub rows_per_layer: u32,
    pub layers: u32,
    pub dispatch: Dispatch,
}

/// Pack `weight` as the `(k·k·cin_p) × n` operand of a product with `cin` input channels (of
/// `cin_p`, padded) and `n` output channels; `flip` packs the data gradient's transposed,
/// flipped kernel (`pack_weight` in `stage.wgsl`).
pub(super) fn pack_weight(
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
    let (layers, rows_per_layer) = textures::operand_layers(gpu, rows);
    if texels > limit || layers * weight.replicas > gpu.limits.max_texture_array_layers as usize {
        return Err(Error::shape(
            OP,
            format!("the weight of {g:?} is too large to stage on this device"),
        ));
    }
    let usage = wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::TEXTURE_BINDING;
    let size = (texels, rows_per_layer, layers * weight.replicas);
    let texture = textures::texture_array(gpu, "packed convolution weight", size, usage)?;
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
