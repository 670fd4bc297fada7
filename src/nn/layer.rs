//! What a layer is: its kind and sizes, the shape of what it produces, and the tensors it owns.
//! How a layer computes (on the GPU and in f64) lives in `super::layers`, one file per kind.

use crate::error::{Error, Result};

/// One layer of a model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Layer {
    /// y = x·Wᵀ + b with W of shape `[out, inp]` (PyTorch's `nn.Linear`).
    Linear {
        /// Input features.
        inp: usize,
        /// Output features.
        out: usize,
    },
    /// y = max(x, 0).
    Relu,
    /// A stride-1 convolution with a `[cout, cin, k, k]` weight and zero padding `pad`.
    Conv2d {
        /// Input channels.
        cin: usize,
        /// Output channels.
        cout: usize,
        /// Kernel side.
        k: usize,
        /// Zero padding on each side.
        pad: usize,
    },
    /// 2×2 max pooling with stride 2.
    MaxPool2,
    /// ReLU followed by 2×2 max pooling in one pass: max and ReLU commute, so the evaluator
    /// runs a `Relu` then `MaxPool2` pair as this (see [`fuse`]).
    ReluMaxPool2,
    /// Image activations to features, in PyTorch's (c, y, x) order.
    Flatten,
    /// A `Linear` followed by a `Relu` in one product, bias and ReLU applied in its store: the
    /// evaluator runs the pair as this when a `Linear` consumes it, and that consumer's input
    /// gradient applies the ReLU's backward (see [`fuse`]).
    LinearRelu {
        /// Input features.
        inp: usize,
        /// Output features.
        out: usize,
    },
}

/// The shape of one example's activations after a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// A feature vector.
    Flat(usize),
    /// An image: channels, height, width.
    Image(usize, usize, usize),
}

impl Act {
    /// Values per example.
    pub fn len(self) -> usize {
        match self {
            Act::Flat(f) => f,
            Act::Image(c, h, w) => c * h * w,
        }
    }

    /// Whether there are no values.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// A tensor a layer owns: the name's last part, the PyTorch shape, and the fan-in of its
/// default initialisation.
pub(crate) struct TensorSpec {
    pub suffix: &'static str,
    pub shape: Vec<usize>,
    pub fan_in: usize,
}

impl Layer {
    /// What the layer produces from `input`, or an error naming the mismatch.
    pub fn output(self, input: Act) -> Result<Act> {
        let bad = || Error::Invalid(format!("layer {self:?} cannot take input {input:?}"));
        Ok(match (self, input) {
            (Layer::Linear { inp, out } | Layer::LinearRelu { inp, out }, a) if a.len() == inp => {
                Act::Flat(out)
            }
            (Layer::Relu, a) => a,
            (Layer::Conv2d { cin, cout, k, pad }, Act::Image(c, h, w))
                if c == cin && h + 2 * pad >= k && w + 2 * pad >= k =>
            {
                Act::Image(cout, h + 2 * pad + 1 - k, w + 2 * pad + 1 - k)
            }
            (Layer::MaxPool2 | Layer::ReluMaxPool2, Act::Image(c, h, w)) if h >= 2 && w >= 2 => {
                Act::Image(c, h / 2, w / 2)
            }
            (Layer::Flatten, a @ Act::Image(..)) => Act::Flat(a.len()),
            _ => return Err(bad()),
        })
    }

    /// The trainable tensors the layer owns, in the order they lie in the parameter vector.
    pub(crate) fn tensors(self) -> Vec<TensorSpec> {
        let pair = |weight: Vec<usize>, out, fan_in| {
            vec![
                TensorSpec {
                    suffix: "weight",
                    shape: weight,
                    fan_in,
                },
                TensorSpec {
                    suffix: "bias",
                    shape: vec![out],
                    fan_in,
                },
            ]
        };
        match self {
            Layer::Linear { inp, out } | Layer::LinearRelu { inp, out } => {
                pair(vec![out, inp], out, inp)
            }
            Layer::Conv2d { cin, cout, k, .. } => pair(vec![cout, cin, k, k], cout, cin * k * k),
            _ => Vec::new(),
        }
    }
}

/// The layers the evaluator runs for `layers`, fewer passes for the same values:
/// - each `Relu` directly followed by `MaxPool2` becomes one `ReluMaxPool2` (one pass over the
///   activations instead of two), except on the first layer, whose input is the NCHW batch
///   rather than pixel-major activations;
/// - each `Linear` followed by a `Relu` and then another `Linear` becomes one `LinearRelu`,
///   whose product applies the bias and the ReLU as it stores; the next `Linear` applies the
///   ReLU's backward as it stores its input gradient (its input is the ReLU's output, the mask).
///
/// Returns the layers with, for each, the index of the model layer whose output it produces.
pub(crate) fn fuse(layers: &[Layer]) -> Vec<(Layer, usize)> {
    let mut out = Vec::with_capacity(layers.len());
    let mut k = 0;
    while k < layers.len() {
        let next = layers.get(k + 1);
        if k >= 1 && layers[k] == Layer::Relu && next == Some(&Layer::MaxPool2) {
            out.push((Layer::ReluMaxPool2, k + 1));
            k += 2;
        } else if let (
            Layer::Linear { inp, out: o },
            Some(Layer::Relu),
            Some(Layer::Linear { .. }),
        ) = (layers[k], next, layers.get(k + 2))
        {
            out.push((Layer::LinearRelu { inp, out: o }, k + 1));
            k += 2;
        } else {
            out.push((layers[k], k));
            k += 1;
        }
    }
    out
}
