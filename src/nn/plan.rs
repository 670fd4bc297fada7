//! A plan: everything one batch size needs on the device for one evaluator, built once from
//! the model's description. The model's layers (with each ReLU-then-pool pair fused, see
//! `super::layer::fuse`) are prepared in order over activation buffers `acts[k]` (layer k's
//! output) and `dacts[k]` (the loss gradient with respect to it); the loss (cross-entropy, or
//! a regression's squared error) reads the last.
//! Workspace that lives only within one layer's forward or backward is shared between
//! layers (`super::pass::Shared`).

use super::layer::{Act, Layer, fuse};
use super::layers;
use super::model::Model;
use super::pass::{LayerIo, LayerPass, NormBufs, Shared};
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};
use crate::kernels::conv::image::ROW_FLOATS;
use crate::kernels::{Dispatch, Kernels, View, mse, softmax_xent};

/// A model bound to its buffers: what every plan of one evaluator shares.
#[derive(Debug)]
pub(crate) struct Bound {
    pub model: Model,
    pub smoothing: f32,
    pub kernels: Kernels,
    pub params: GpuBuf<f32>,
    pub grads: GpuBuf<f32>,
    /// Parameter sets side by side in `params` and `grads`, `stride` values apart.
    pub replicas: usize,
    pub stride: usize,
}

/// Everything one batch size needs on the device.
#[derive(Debug)]
pub struct Plan {
    /// Examples per batch.
    pub batch: usize,
    pub(crate) input: GpuBuf<f32>,
    pub(crate) labels: GpuBuf<u32>,
    /// Each replica's dropout key (`kernels::dropout`), 4 values apart.
    pub(crate) dropout_keys: GpuBuf<u32>,
    /// `[mean loss, correct count]` of the last recorded batch, per replica at
    /// [`METRICS_STRIDE`] values apart.
    pub metrics: GpuBuf<f32>,
    /// Each example's loss in the last pass (laid out like the labels).
    pub row_losses: GpuBuf<f32>,
    /// The last layer's output (per replica, `batch × classes` logits), for predictions.
    pub(crate) logits: GpuBuf<f32>,
    pub(crate) forward: Vec<Dispatch>,
    /// The forward in evaluation: BatchNorm with the running statistics.
    pub(crate) forward_eval: Vec<Dispatch>,
    /// Every BatchNorm's statistics buffers, in the order of the model's state tensors.
    pub(crate) norms: Vec<NormBufs>,
    pub(crate) loss_with_grad: Dispatch,
    pub(crate) loss_only: Dispatch,
    pub(crate) backward: Vec<Dispatch>,
    /// The model layer each forward and backward entry produces (for profiles).
    pub(crate) forward_layers: Vec<usize>,
    pub(crate) backward_layers: Vec<usize>,
    /// Each forward entry's output and the loss gradient with respect to it (see the module
    /// comment; `super::trace` reads them, natively).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) acts: Vec<GpuBuf<f32>>,
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(crate) dacts: Vec<GpuBuf<f32>>,
    // Buffers referenced only through the dispatches' bind groups.
    _workspace: Vec<GpuBuf<f32>>,
    _indices: Vec<GpuBuf<u32>>,
}

/// Values between two replicas' `[loss, correct]` in [`Plan::metrics`] (a 16-byte step, so
/// either can be copied out on its own).
pub const METRICS_STRIDE: usize = 4;

/// Build the plan of `e` for `batch` examples per replica.
pub(crate) fn build(e: &Bound, gpu: &Gpu, batch: usize) -> Result<Plan> {
    let (model, r) = (&e.model, e.replicas);
    // Every buffer holds r replicas of `len` values, each starting on a 16-byte boundary
    // (kernels may bind them as vec4s).
    let zeros = |len: usize, what| gpu.zeros::<f32>(r * len.next_multiple_of(4), what);
    // Activations and their gradients give each replica whole rows of 256 floats, so a
    // convolution can copy them into its image (`kernels::conv::image`) with plain copies.
    let rows = |len: usize, what| gpu.zeros::<f32>(r * len.next_multiple_of(ROW_FLOATS), what);
    let input = zeros(batch * model.input, "batch input")?;
    let labels = gpu.zeros::<u32>(r * batch.next_multiple_of(4), "batch labels")?;
    let metrics = gpu.zeros::<f32>(r * METRICS_STRIDE, "batch metrics")?;
    let row_losses = gpu.zeros::<f32>(r * batch.next_multiple_of(4), "row losses")?;
    let dropout_keys = gpu.zeros::<u32>(4 * r, "dropout keys")?;
    let shapes = model.shapes();
    let layers = fuse(&model.layers);
    let out_len = |&(_, k): &(_, usize)| batch * shapes[k + 1].len();
    let acts: Vec<_> = layers
        .iter()
        .map(|l| rows(out_len(l), "activations"))
        .collect::<Result<_>>()?;
    // Layer k's backward reads dacts[k] and writes dacts[k - 1], which no later backward
    // reads again, so layers of one size alternate between two buffers.
    let mut pairs: Vec<(usize, [GpuBuf<f32>; 2])> = Vec::new();
    let mut dacts = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        let len = out_len(l);
        if !pairs.iter().any(|(n, _)| *n == len) {
            let pair = [
                rows(len, "activation gradients")?,
                rows(len, "activation gradients")?,
            ];
            pairs.push((len, pair));
        }
        let (_, pair) = pairs.iter().find(|(n, _)| *n == len).expect("made above");
        dacts.push(pair[i % 2].clone());
    }
    let shared = Shared::default();
    let passes = prepare_layers(
        e,
        gpu,
        (batch, &layers, &shapes),
        (&input, &acts, &dacts),
        (&shared, &dropout_keys),
    )?;
    let last = acts.len() - 1;
    // A one-output model is a regression (`Model::regression`), its labels the targets' bits.
    let loss = |grad: bool| {
        let out = (metrics.replicas(r), row_losses.replicas(r));
        if model.regression() {
            let pred = (acts[last].replicas(r), labels.replicas(r));
            return mse::prepare(gpu, batch, pred, dacts[last].replicas(r), out, grad);
        }
        softmax_xent::prepare(
            gpu,
            batch,
            model.classes,
            e.smoothing,
            acts[last].replicas(r),
            labels.replicas(r),
            dacts[last].replicas(r),
            out,
            grad,
        )
    };
    let (loss_with_grad, loss_only) = (loss(true)?, loss(false)?);
    let mut plan = Plan {
        batch,
        input,
        labels,
        dropout_keys,
        metrics,
        row_losses,
        logits: acts[last].clone(),
        forward: Vec::new(),
        forward_eval: Vec::new(),
        norms: Vec::new(),
        loss_with_grad,
        loss_only,
        backward: Vec::new(),
        forward_layers: Vec::new(),
        backward_layers: Vec::new(),
        acts,
        dacts,
        _workspace: Vec::new(),
        _indices: Vec::new(),
    };
    for (pass, k) in passes {
        let eval = pass.forward_eval.unwrap_or_else(|| pass.forward.clone());
        plan.forward_eval.push(eval);
        plan.norms.extend(pass.norms);
        plan.forward.push(pass.forward);
        plan.forward_layers.push(k);
        if let Some(b) = pass.backward {
            plan.backward.push(b);
            plan.backward_layers.push(k);
        }
        plan._workspace.extend(pass.scratch);
        plan._indices.extend(pass.indices);
    }
    plan.backward.reverse();
    plan.backward_layers.reverse();
    Ok(plan)
}

/// Every layer's pass over the activation buffers, with the model layer it produces;
/// `layers` are the fused layers with those indices, `shapes` the model's activation shapes.
fn prepare_layers(
    e: &Bound,
    gpu: &Gpu,
    (batch, layers, shapes): (usize, &[(Layer, usize)], &[Act]),
    (input, acts, dacts): (&GpuBuf<f32>, &[GpuBuf<f32>], &[GpuBuf<f32>]),
    (shared, dropout_keys): (&Shared, &GpuBuf<u32>),
) -> Result<Vec<(LayerPass, usize)>> {
    let mut passes = Vec::with_capacity(layers.len());
    for (i, &(layer, k)) in layers.iter().enumerate() {
        // The model layers this one covers run from the one after the previous entry to k.
        let first_covered = if i == 0 { 0 } else { layers[i - 1].1 + 1 };
        let covered = first_covered..=k;
        let io = LayerIo {
            gpu,
            kernels: e.kernels,
            batch,
            replicas: e.replicas,
            input: shapes[first_covered],
            x: if i == 0 { input } else { &acts[i - 1] },
            y: &acts[i],
            dy: &dacts[i],
            dx: (i > 0).then(|| &dacts[i - 1]),
            input_relu: i > 0 && matches!(layers[i - 1].0, Layer::LinearRelu { .. }),
            params: tensors(e, &e.params, &covered)?,
            grads: tensors(e, &e.grads, &covered)?,
            shared,
            dropout_keys,
            site: k,
            text: matches!(shapes[0], Act::Text(_)).then_some(input),
        };
        passes.push((layers::build(layer, &io)?, k));
    }
    Ok(passes)
}

/// The tensors of model layers `covered` in every replica of `buf`.
fn tensors<'a>(
    e: &Bound,
    buf: &'a GpuBuf<f32>,
    covered: &std::ops::RangeInclusive<usize>,
) -> Result<Vec<View<'a>>> {
    e.model
        .params
        .iter()
        .filter(|p| covered.contains(&p.layer))
        .map(|p| buf.slice(p.offset, p.len())?.repeated(e.replicas, e.stride))
        .collect()
}

impl Plan {
    /// Record forward, loss and backward.
    pub(crate) fn record_gradient(&self, encoder: &mut wgpu::CommandEncoder) {
        for d in self.gradient() {
            d.record(encoder);
        }
    }

    /// A gradient pass's operations in order: forward, loss and backward.
    pub(crate) fn gradient(&self) -> impl Iterator<Item = &Dispatch> {
        let loss = std::iter::once(&self.loss_with_grad);
        self.forward.iter().chain(loss).chain(&self.backward)
    }

    /// Record the training forward (BatchNorm normalising with the batch's statistics) and the
    /// loss, without the backward: each example's loss at the parameters, as a gradient pass
    /// would see it (ESAM's selection).
    pub(crate) fn record_training_loss(&self, encoder: &mut wgpu::CommandEncoder) {
        for d in &self.forward {
            d.record(encoder);
        }
        self.loss_only.record(encoder);
    }

    /// Record the evaluation forward and the loss (BatchNorm normalising with the running
    /// statistics [`Plan::write_eval_stats`] wrote).
    pub(crate) fn record_loss(&self, encoder: &mut wgpu::CommandEncoder) {
        for d in &self.forward_eval {
            d.record(encoder);
        }
        self.loss_only.record(encoder);
    }

    /// Values of the batch statistics one pass leaves: per BatchNorm, its mean and its biased
    /// variance (C each), in the order of the model's state tensors. 0 without BatchNorm.
    pub fn batch_stats_len(&self) -> usize {
        self.norms.iter().map(|n| 2 * n.c).sum()
    }

    /// Record copies of replica `r`'s batch statistics into `back` from value `at` on.
    pub(crate) fn record_batch_stats(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        back: &crate::gpu::Readback,
        r: usize,
        mut at: usize,
    ) {
        for n in &self.norms {
            // kernels::batchnorm's layout: mean, invstd, var.
            for from in [0, 2 * n.c] {
                back.record_part(encoder, &n.stats, r * n.stride + from, n.c, at);
                at += n.c;
            }
        }
    }

    /// Write the statistics evaluation normalises with, from the state vector `state` of
    /// `model` (every replica alike).
    pub(crate) fn write_eval_stats(&self, gpu: &Gpu, model: &Model, state: &[f32]) -> Result<()> {
        for (n, site) in self.norms.iter().zip(model.norm_sites()) {
            let running = &state[site.state..site.state + 2 * n.c + 1];
            let values = crate::kernels::batchnorm::eval_stats(running, n.c);
            for r in 0..n.eval.len / n.stride {
                gpu.write(&n.eval, r * n.stride, &values)?;
            }
        }
        Ok(())
    }
}
