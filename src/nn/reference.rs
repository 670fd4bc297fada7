//! The f64 reference of a whole model: forward, mean cross-entropy with label smoothing (or a
//! regression's mean squared error), and backward to a flat gradient, composed layer by layer
//! from the kernels' own f64 references (`super::layers`) in the GPU's layouts. It judges the
//! GPU evaluator, and is itself checked by finite differences.

use super::layer::{Act, Layer};
use super::layers;
use super::model::Model;
use super::pass::RefIo;
use crate::kernels::{mse, softmax_xent};

/// Loss, correct count and flat gradient of the mean loss over a batch.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f64,
    /// Correct predictions.
    pub correct: usize,
    /// d loss / d params, laid out like the parameters.
    pub grad: Vec<f64>,
    /// Each example's loss.
    pub losses: Vec<f64>,
}

/// Mean smoothed cross-entropy, correct count, and d loss / d logits.
pub fn cross_entropy(
    logits: &[f64],
    labels: &[u32],
    classes: usize,
    smoothing: f64,
) -> (f64, usize, Vec<f64>) {
    let r = softmax_xent::reference(labels.len(), classes, smoothing, logits, labels);
    (r.loss, r.correct, r.dlogits)
}

/// The model's loss of its outputs `out` against `labels`: mean loss, correct count, d loss
/// / d out and each example's loss. Cross-entropy over classes, or for a regression
/// (`Model::regression`) the mean squared error against the targets the labels hold.
fn head_loss(
    model: &Model,
    smoothing: f64,
    out: &[f64],
    labels: &[u32],
) -> (f64, usize, Vec<f64>, Vec<f64>) {
    if model.regression() {
        let r = mse::reference(out, labels);
        return (r.loss, 0, r.dpred, r.row_losses);
    }
    let r = softmax_xent::reference(labels.len(), model.classes, smoothing, out, labels);
    (r.loss, r.correct, r.dlogits, r.row_losses)
}

/// Forward, loss and backward of `model` at `params` on one batch (`inputs` is
/// `labels.len() × model.input`, NCHW for images), with dropout key 0, as an evaluator whose
/// keys were never set.
pub fn evaluate(
    model: &Model,
    params: &[f64],
    inputs: &[f64],
    labels: &[u32],
    smoothing: f64,
) -> Evaluation {
    evaluate_keyed(model, params, (inputs, labels), smoothing, 0)
}

/// [`evaluate`] for the pass whose dropout key is `key` (`kernels::dropout`).
pub fn evaluate_keyed(
    model: &Model,
    params: &[f64],
    (inputs, labels): (&[f64], &[u32]),
    smoothing: f64,
    key: u32,
) -> Evaluation {
    let (batch, shapes) = (labels.len(), model.shapes());
    let io = |k: usize| model_io((model, &shapes, k), (params, inputs), batch, (None, key));
    let mut acts = vec![inputs.to_vec()];
    for (k, &layer) in model.layers.iter().enumerate() {
        let y = layers::forward(layer, &io(k), &acts[k]);
        acts.push(y);
    }
    let logits = acts.last().expect("logits");
    let (loss, correct, mut dy, losses) = head_loss(model, smoothing, logits, labels);
    let mut grad = vec![0.0; params.len()];
    for (k, &layer) in model.layers.iter().enumerate().rev() {
        let range = model.layer_range(k);
        let xy = (&acts[k][..], &acts[k + 1][..]);
        dy = layers::backward(layer, &io(k), xy, &dy, &mut grad[range]);
    }
    Evaluation {
        loss,
        correct,
        grad,
        losses,
    }
}

/// Layer `k` of `model` (whose activation shapes are `shapes`) on `batch` examples: its slice
/// of `params`, in evaluation its slice of the state vector, the pass's dropout key, and the
/// model's `inputs` where they are text.
fn model_io<'a>(
    (model, shapes, k): (&Model, &[Act], usize),
    (params, inputs): (&'a [f64], &'a [f64]),
    batch: usize,
    (state, key): (Option<&'a [f64]>, u32),
) -> RefIo<'a> {
    RefIo {
        batch,
        input: shapes[k],
        first: k == 0,
        params: &params[model.layer_range(k)],
        state,
        dropout: (key, k),
        text: matches!(shapes[0], Act::Text(_)).then_some(inputs),
    }
}

/// One layer's f64 forward on a batch of `batch` examples of shape `input` (`first`: x is the
/// model's NCHW input), with the layer's tensors side by side in `params`.
pub fn layer_forward(
    layer: Layer,
    (batch, input, first): (usize, Act, bool),
    params: &[f64],
    x: &[f64],
) -> Vec<f64> {
    let io = RefIo {
        batch,
        input,
        first,
        params,
        state: None,
        dropout: (0, 0),
        text: None,
    };
    layers::forward(layer, &io, x)
}

/// The same layer's backward from the loss gradient `dy` with respect to its output: the
/// gradients with respect to x and to its tensors.
pub fn layer_backward(
    layer: Layer,
    at: (usize, Act, bool),
    params: &[f64],
    x: &[f64],
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (_, dx, grads) = layer_pass(layer, at, params, x, dy);
    (dx, grads)
}

/// One layer's forward and backward together: its output, and the gradients with respect to
/// x and to its tensors from the loss gradient `dy` with respect to the output.
pub fn layer_pass(
    layer: Layer,
    (batch, input, first): (usize, Act, bool),
    params: &[f64],
    x: &[f64],
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let io = RefIo {
        batch,
        input,
        first,
        params,
        state: None,
        dropout: (0, 0),
        text: None,
    };
    let y = layers::forward(layer, &io, x);
    let mut grads = vec![0.0; params.len()];
    let dx = layers::backward(layer, &io, (x, &y), dy, &mut grads);
    (y, dx, grads)
}

/// The batch statistics of every BatchNorm of `model` at `params` on `inputs` (`batch`
/// examples) in the pass with dropout key `key`, as [`Model::update_running`] takes them: per
/// BatchNorm its mean and biased variance over the batch's pixels, in the order of the
/// model's state tensors.
pub fn batch_stats(
    model: &Model,
    params: &[f64],
    (inputs, batch): (&[f64], usize),
    key: u32,
) -> Vec<f64> {
    let shapes = model.shapes();
    let mut x = inputs.to_vec();
    let mut stats = Vec::new();
    for (k, &layer) in model.layers.iter().enumerate() {
        let io = model_io((model, &shapes, k), (params, inputs), batch, (None, key));
        let inputs = layers::norm_inputs(layer, &io, &x);
        for (v, shape) in inputs.iter().zip(layer.norm_shapes(shapes[k])) {
            let Act::Image(c, ..) = shape else {
                unreachable!("BatchNorm normalises images")
            };
            let (mean, var) = crate::kernels::batchnorm::moments(c, v);
            stats.extend(mean);
            stats.extend(var);
        }
        x = layers::forward(layer, &io, &x);
    }
    stats
}

/// Mean loss and correct count of `model` in evaluation at `params` with the state vector
/// `state` (BatchNorm normalising with its running statistics, as PyTorch's `model.eval()`).
pub fn evaluate_eval(
    model: &Model,
    (params, state): (&[f64], &[f64]),
    inputs: &[f64],
    labels: &[u32],
    smoothing: f64,
) -> (f64, usize) {
    let (batch, shapes) = (labels.len(), model.shapes());
    let mut x = inputs.to_vec();
    for (k, &layer) in model.layers.iter().enumerate() {
        let state = Some(&state[model.state_range(k)]);
        let io = model_io((model, &shapes, k), (params, inputs), batch, (state, 0));
        x = layers::forward(layer, &io, &x);
    }
    let (loss, correct, ..) = head_loss(model, smoothing, &x, labels);
    (loss, correct)
}
