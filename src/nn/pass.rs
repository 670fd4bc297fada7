//! What a layer's code is given: on the GPU, the buffers and views of one plan (see
//! `super::plan`); in f64, the layer's slice of the parameters. Each layer kind writes its
//! forward and backward once against these (`super::layers`).

use super::layer::Act;
use crate::gpu::{Gpu, GpuBuf};
use crate::kernels::conv::image::{self, Image};
use crate::kernels::{Dispatch, Kernels, View};
use std::cell::RefCell;

/// Workspace that one layer's forward, or one layer's backward, fills and reads and no later
/// dispatch needs: a plan makes one buffer per name and size (and one image texture per
/// size), which every layer asking for that name and size shares. A plan records its layers
/// one after another, each layer's forward or backward whole, so a layer overwrites what an
/// earlier one left there only once that one is done with it; uses that must not overlap
/// take different names. (A ResNet block's gradient buffers and every convolution's image of
/// dy are these: ResNet-20 at batch 128 allocates about 180 MiB less.)
#[derive(Default)]
pub(crate) struct Shared {
    /// Buffers by name and length.
    bufs: RefCell<Vec<(&'static str, usize, GpuBuf<f32>)>>,
    /// Image textures by texels and replicas.
    images: RefCell<Vec<((usize, usize), wgpu::Texture)>>,
}

/// The GPU side of one layer in one plan. Every buffer holds `replicas` copies side by side
/// (one per parameter set of a fused evaluator); views carry the replica stride.
pub(crate) struct LayerIo<'a> {
    pub gpu: &'a Gpu,
    pub kernels: Kernels,
    pub batch: usize,
    pub replicas: usize,
    pub input: Act,
    /// The layer's input: the NCHW batch for the first layer, else pixel-major activations
    /// (`[N·H·W, C]`) or features.
    pub x: &'a GpuBuf<f32>,
    pub y: &'a GpuBuf<f32>,
    /// The loss gradient with respect to `y`, and to `x` (none for the first layer, which
    /// passes no gradient back).
    pub dy: &'a GpuBuf<f32>,
    pub dx: Option<&'a GpuBuf<f32>>,
    /// Whether `x` is the output of a fused `LinearRelu`, whose ReLU backward this layer's
    /// input gradient applies (see `super::layer::fuse`).
    pub input_relu: bool,
    /// The layer's tensors in the parameter and gradient vectors, in [`super::Layer`] order.
    pub params: Vec<View<'a>>,
    pub grads: Vec<View<'a>>,
    /// The plan's shared workspace.
    pub shared: &'a Shared,
    /// Each replica's dropout key, 4 values apart, and the model layer this one is (which
    /// salts its masks). Only the Wide ResNet's units, which the browser lacks, drop.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub dropout_keys: &'a GpuBuf<u32>,
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub site: usize,
    /// The plan's input when the model reads text (`Act::Text`): BERT's attention reads its
    /// mask there.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub text: Option<&'a GpuBuf<f32>>,
}

/// A part's buffers inside a composite layer: its input, output, output gradient and input
/// gradient.
pub(crate) type PartBufs<'a> = (
    &'a GpuBuf<f32>,
    &'a GpuBuf<f32>,
    &'a GpuBuf<f32>,
    Option<&'a GpuBuf<f32>>,
);

impl<'a> LayerIo<'a> {
    /// The context of a part of this (composite) layer: its input shape, its buffers, and the
    /// layer's tensor views `tensors`.
    pub fn part(
        &self,
        input: Act,
        (x, y, dy, dx): PartBufs<'a>,
        tensors: std::ops::Range<usize>,
    ) -> LayerIo<'a> {
        LayerIo {
            gpu: self.gpu,
            kernels: self.kernels,
            batch: self.batch,
            replicas: self.replicas,
            input,
            x,
            y,
            dy,
            dx,
            input_relu: false,
            params: self.params[tensors.clone()].to_vec(),
            grads: self.grads[tensors].to_vec(),
            shared: self.shared,
            dropout_keys: self.dropout_keys,
            site: self.site,
            text: self.text,
        }
    }
}

impl LayerIo<'_> {
    /// A workspace buffer of `len` values per replica, each replica on a 16-byte boundary
    /// (kernels may bind them as vec4s).
    pub fn zeros(&self, len: usize, what: &str) -> crate::Result<GpuBuf<f32>> {
        self.gpu
            .zeros::<f32>(self.replicas * len.next_multiple_of(4), what)
    }

    /// The plan's shared buffer `what` of `total` values (all replicas), made on first use;
    /// see [`Shared`] for when a layer may use one.
    pub fn shared_zeros(&self, total: usize, what: &'static str) -> crate::Result<GpuBuf<f32>> {
        let mut bufs = self.shared.bufs.borrow_mut();
        if let Some((.., b)) = bufs.iter().find(|(w, n, _)| *w == what && *n == total) {
            return Ok(b.clone());
        }
        let b = self.gpu.zeros::<f32>(total, what)?;
        bufs.push((what, total, b.clone()));
        Ok(b)
    }

    /// The image of `src` (`texels` texels a replica, see `image::copied`) in the plan's
    /// shared texture of that size; see [`Shared`] for when a layer may use one.
    pub fn shared_image(
        &self,
        op: &'static str,
        src: View<'_>,
        texels: usize,
    ) -> crate::Result<Image> {
        let mut images = self.shared.images.borrow_mut();
        let key = (texels, src.replicas);
        let texture = match images.iter().find(|(k, _)| *k == key) {
            Some((_, t)) => t.clone(),
            None => {
                let t = image::for_copies(self.gpu, op, texels, src.replicas)?;
                images.push((key, t.clone()));
                t
            }
        };
        image::copied_to(self.gpu, op, src, texels, texture)
    }
}

/// A layer's prepared work in one plan, and the buffers only its dispatches refer to.
pub(crate) struct LayerPass {
    pub forward: Dispatch,
    /// The forward in evaluation, where it differs (BatchNorm with the running statistics).
    pub forward_eval: Option<Dispatch>,
    pub backward: Option<Dispatch>,
    /// The layer's normalisations, in the order of their state tensors.
    pub norms: Vec<NormBufs>,
    pub scratch: Vec<GpuBuf<f32>>,
    pub indices: Vec<GpuBuf<u32>>,
}

impl LayerPass {
    pub fn new(forward: Dispatch, backward: Option<Dispatch>) -> LayerPass {
        LayerPass {
            forward,
            forward_eval: None,
            backward,
            norms: Vec::new(),
            scratch: Vec::new(),
            indices: Vec::new(),
        }
    }

    // The native composite layers' (ResNet blocks, wide units, dense blocks).
    #[cfg(not(target_arch = "wasm32"))]
    /// A composite layer's forward from its `parts`' in order: in training, and in evaluation
    /// (each part's evaluation form where it has one).
    pub fn chained_forward(parts: &[LayerPass]) -> (Dispatch, Dispatch) {
        let (mut fwd, mut eval) = (Dispatch::empty(), Dispatch::empty());
        for p in parts {
            fwd = fwd.then(p.forward.clone());
            eval = eval.then(p.forward_eval.clone().unwrap_or_else(|| p.forward.clone()));
        }
        (fwd, eval)
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// Keep `parts`' BatchNorm buffers, scratch and index buffers as this pass's, in order (a
    /// composite layer's, once its dispatches are chained).
    pub fn absorb(&mut self, parts: Vec<LayerPass>) {
        for p in parts {
            self.norms.extend(p.norms);
            self.scratch.extend(p.scratch);
            self.indices.extend(p.indices);
        }
    }
}

/// One BatchNorm's buffers in a plan: the batch statistics its training forward leaves
/// (`kernels::batchnorm`'s layout, `stride` values per replica), and the statistics its
/// evaluation forward normalises with, written from the running ones before an evaluation.
#[derive(Debug)]
pub(crate) struct NormBufs {
    pub c: usize,
    pub stats: GpuBuf<f32>,
    pub eval: GpuBuf<f32>,
    pub stride: usize,
}

/// The dropout site (which salts `kernels::dropout`'s masks) of model layer `layer`'s `j`-th
/// dropout: the layer, with `j` above it (a Wide ResNet unit's one dropout is the layer's).
pub(crate) fn dropout_site(layer: usize, j: u32) -> u32 {
    layer as u32 | (j << 24)
}

impl RefIo<'_> {
    /// The site of this layer's `j`-th dropout.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) fn site_of(&self, j: u32) -> u32 {
        dropout_site(self.dropout.1, j)
    }
}

/// The f64 side of one layer on one batch: the same layouts as the GPU (NCHW input for the
/// first layer, pixel-major images after it).
pub(crate) struct RefIo<'a> {
    pub batch: usize,
    pub input: Act,
    pub first: bool,
    /// The layer's tensors, side by side as in the parameter vector.
    pub params: &'a [f64],
    /// In evaluation, the layer's slice of the state vector (its BatchNorms' running
    /// statistics, which they normalise with); `None` in training. (The browser build has no
    /// BatchNorm to read it.)
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub state: Option<&'a [f64]>,
    /// The pass's dropout key and the model layer this one is (see `kernels::dropout`).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub dropout: (u32, usize),
    /// The model's input batch when it reads text (`Act::Text`), whose attention masks BERT's
    /// attention reads.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub text: Option<&'a [f64]>,
}
