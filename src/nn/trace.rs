//! A layer-by-layer record of one gradient evaluation: each layer's input, output, output
//! gradient, input gradient and tensor gradients as the GPU computed them, read back between
//! layers. Checking each layer against its f64 reference on the GPU's own inputs isolates it
//! from the rest of the network: end to end, a deep ReLU network's f32 and f64 gradients part
//! wherever an activation lies within rounding of 0 and the two ReLUs decide differently,
//! which says nothing about either layer's code. It is also where to look when two runs
//! differ: the first layer whose record differs.

use super::evaluator::Evaluator;
use super::layer::{Act, Layer, fuse};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use std::ops::Range;

/// One layer's part in a traced gradient evaluation. The layer is as the evaluator runs it
/// (a fused `ReluMaxPool2` or `LinearRelu` where `super::layer::fuse` joins two).
#[derive(Clone, Debug)]
pub struct LayerTrace {
    /// The layer as run.
    pub layer: Layer,
    /// Its input's shape.
    pub input: Act,
    /// Whether it is the model's first layer (whose input is the NCHW batch).
    pub first: bool,
    /// Its tensors' elements in the parameter vector.
    pub params: Range<usize>,
    /// Its input (the NCHW batch for the first layer, else pixel-major activations).
    pub x: Vec<f32>,
    /// Its output.
    pub y: Vec<f32>,
    /// The loss gradient with respect to its output.
    pub dy: Vec<f32>,
    /// The loss gradient with respect to its input (none for the first layer).
    pub dx: Option<Vec<f32>>,
    /// The loss gradient with respect to its tensors.
    pub grads: Vec<f32>,
}

/// A gradient evaluation of `batch` run one layer at a time, each layer's buffers read back
/// as it finishes: the mean loss and each layer's record, in forward order. Blocking and
/// slow; for checks, not training. The evaluator must hold one parameter set.
pub fn trace(ev: &mut Evaluator, gpu: &Gpu, batch: &Batch) -> Result<(f32, Vec<LayerTrace>)> {
    if ev.replicas().0 != 1 {
        return Err(Error::Invalid(
            "a trace follows one parameter set; this evaluator holds several".into(),
        ));
    }
    let model = ev.model().clone();
    let grads = ev.grads().clone();
    let plan = ev.load(gpu, batch)?;
    let n = batch.len();
    let shapes = model.shapes();
    let layers = fuse(&model.layers);
    let read = |buf: &crate::gpu::GpuBuf<f32>, len: usize| -> Result<Vec<f32>> {
        let mut v = gpu.read(buf)?;
        v.truncate(len);
        Ok(v)
    };
    let mut traces = Vec::with_capacity(layers.len());
    for (i, &(layer, k)) in layers.iter().enumerate() {
        let first = if i == 0 { 0 } else { layers[i - 1].1 + 1 };
        gpu.run(&[&plan.forward[i]])?;
        let (input, output) = (shapes[first], shapes[k + 1]);
        let x = match i {
            0 => read(&plan.input, n * model.input)?,
            _ => read(&plan.acts[i - 1], n * input.len())?,
        };
        let start = model.layer_range(first).start;
        let end = (first..=k)
            .map(|j| model.layer_range(j).end)
            .max()
            .unwrap_or(start);
        traces.push(LayerTrace {
            layer,
            input,
            first: i == 0,
            params: start..end.max(start),
            x,
            y: read(&plan.acts[i], n * output.len())?,
            dy: Vec::new(),
            dx: None,
            grads: Vec::new(),
        });
    }
    gpu.run(&[&plan.loss_with_grad])?;
    let loss = gpu.read(&plan.metrics)?[0];
    let backward: Vec<_> = plan.backward.iter().zip(&plan.backward_layers).collect();
    for (i, t) in traces.iter_mut().enumerate().rev() {
        t.dy = read(&plan.dacts[i], t.y.len())?;
        let own = backward.iter().find(|(_, k)| **k == layers[i].1);
        if let Some((dispatch, _)) = own {
            gpu.run(&[dispatch])?;
        }
        if i > 0 {
            t.dx = Some(read(&plan.dacts[i - 1], t.x.len())?);
        }
    }
    // Each layer writes only its own tensors' gradients: one read serves them all.
    let all = gpu.read(&grads)?;
    for t in &mut traces {
        t.grads = all[t.params.clone()].to_vec();
    }
    Ok((loss, traces))
}
