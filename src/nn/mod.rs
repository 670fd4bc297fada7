//! Models as a list of layers over one flat parameter vector, their PyTorch-style names and
//! initialisation, a CPU f64 reference of the whole forward and backward pass, and the GPU
//! gradient evaluator.

pub mod reference;

#[cfg(not(target_arch = "wasm32"))]
pub mod evaluator;

use crate::error::{Error, Result};
use crate::kernels::matmul::{Dims, Form};
use crate::rng::Pcg;

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
    /// Image activations to features, in PyTorch's (c, y, x) order.
    Flatten,
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

/// Where one named tensor lives in the flat parameter vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// PyTorch-compatible name, e.g. `layers.0.weight`.
    pub name: String,
    /// PyTorch shape, e.g. `[256, 784]`.
    pub shape: Vec<usize>,
    /// First element in the flat vector.
    pub offset: usize,
    /// `fan_in` for the default init bound 1/√fan_in.
    pub fan_in: usize,
}

impl Param {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A model: layers, the input size, and the layout of its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Layers in order.
    pub layers: Vec<Layer>,
    /// Features of one input example.
    pub input: usize,
    /// The input's shape: an image for convolutional models, else `Flat(input)`.
    pub input_shape: Act,
    /// Output classes.
    pub classes: usize,
    /// Every parameter tensor, in layer order (weight, then bias).
    pub params: Vec<Param>,
    /// A short description, e.g. `mlp 784-256-256-10`.
    pub name: String,
}

impl Model {
    /// A multilayer perceptron `input - hidden... - classes` with ReLU between linear layers.
    /// Its tensors are `layers.{i}.weight` (`[out, in]`) and `layers.{i}.bias`, `i` counting the
    /// linear layers from 0.
    pub fn mlp(input: usize, hidden: &[usize], classes: usize) -> Result<Model> {
        if input == 0 || classes < 2 || hidden.contains(&0) {
            return Err(Error::Invalid(format!(
                "an MLP needs positive widths and at least 2 classes, got input {input}, hidden \
                 {hidden:?}, classes {classes}"
            )));
        }
        let widths: Vec<usize> = std::iter::once(input)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(classes))
            .collect();
        let mut layers = Vec::new();
        let mut params = Vec::new();
        let mut offset = 0;
        for (i, w) in widths.windows(2).enumerate() {
            let (inp, out) = (w[0], w[1]);
            if i > 0 {
                layers.push(Layer::Relu);
            }
            layers.push(Layer::Linear { inp, out });
            for (suffix, shape) in [("weight", vec![out, inp]), ("bias", vec![out])] {
                let p = Param {
                    name: format!("layers.{i}.{suffix}"),
                    shape,
                    offset,
                    fan_in: inp,
                };
                offset += p.len();
                params.push(p);
            }
        }
        let name = format!(
            "mlp {}",
            widths
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join("-")
        );
        Ok(Model {
            layers,
            input,
            input_shape: Act::Flat(input),
            classes,
            params,
            name,
        })
    }

    /// The small CNN: conv(c→32, 3×3, pad 1) ReLU pool, conv(32→64, 3×3, pad 1) ReLU pool,
    /// linear(→128) ReLU, linear(→classes). Tensors `conv1.*`, `conv2.*`, `fc1.*`, `fc2.*`.
    pub fn cnn(channels: usize, height: usize, width: usize, classes: usize) -> Result<Model> {
        if channels == 0 || height < 4 || width < 4 || classes < 2 {
            return Err(Error::Invalid(format!(
                "the CNN needs images of at least 4×4 and 2 classes, got {channels}×{height}×{width} and {classes}"
            )));
        }
        let flat = 64 * (height / 2 / 2) * (width / 2 / 2);
        let layers = vec![
            Layer::Conv2d {
                cin: channels,
                cout: 32,
                k: 3,
                pad: 1,
            },
            Layer::Relu,
            Layer::MaxPool2,
            Layer::Conv2d {
                cin: 32,
                cout: 64,
                k: 3,
                pad: 1,
            },
            Layer::Relu,
            Layer::MaxPool2,
            Layer::Flatten,
            Layer::Linear {
                inp: flat,
                out: 128,
            },
            Layer::Relu,
            Layer::Linear {
                inp: 128,
                out: classes,
            },
        ];
        let tensors: [(&str, Vec<usize>, usize); 4] = [
            ("conv1", vec![32, channels, 3, 3], channels * 9),
            ("conv2", vec![64, 32, 3, 3], 32 * 9),
            ("fc1", vec![128, flat], flat),
            ("fc2", vec![classes, 128], 128),
        ];
        let mut params = Vec::new();
        let mut offset = 0;
        for (name, shape, fan_in) in tensors {
            let out = shape[0];
            for (suffix, shape) in [("weight", shape), ("bias", vec![out])] {
                let p = Param {
                    name: format!("{name}.{suffix}"),
                    shape,
                    offset,
                    fan_in,
                };
                offset += p.len();
                params.push(p);
            }
        }
        Ok(Model {
            layers,
            input: channels * height * width,
            input_shape: Act::Image(channels, height, width),
            classes,
            params,
            name: format!("cnn {channels}×{height}×{width}→{classes}"),
        })
    }

    /// Total number of parameters (the flat vector's length).
    pub fn param_count(&self) -> usize {
        self.params.iter().map(Param::len).sum()
    }

    /// The tensor called `name`.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// PyTorch's default initialisation from `seed`: every weight and bias uniform in
    /// ±1/√fan_in (Kaiming-uniform with a = √5 for weights, which gives the same bound).
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = Pcg::new(seed, 0x5eed);
        let mut x = vec![0.0; self.param_count()];
        for p in &self.params {
            let bound = 1.0 / (p.fan_in as f32).sqrt();
            for v in &mut x[p.offset..p.offset + p.len()] {
                *v = rng.uniform(-bound, bound);
            }
        }
        x
    }

    /// The (weight, bias) tensors of each linear or convolutional layer, in order.
    pub(crate) fn weighted_params(&self) -> Vec<(&Param, &Param)> {
        self.params.chunks(2).map(|c| (&c[0], &c[1])).collect()
    }

    /// The activation shape after each layer, with the input's first.
    pub fn shapes(&self) -> Vec<Act> {
        let mut s = vec![self.input_shape];
        for l in &self.layers {
            let prev = *s.last().expect("input shape");
            s.push(match (*l, prev) {
                (Layer::Linear { out, .. }, _) => Act::Flat(out),
                (Layer::Relu, a) => a,
                (Layer::Conv2d { cout, k, pad, .. }, Act::Image(_, h, w)) => {
                    Act::Image(cout, h + 2 * pad + 1 - k, w + 2 * pad + 1 - k)
                }
                (Layer::MaxPool2, Act::Image(c, h, w)) => Act::Image(c, h / 2, w / 2),
                (Layer::Flatten, a) => Act::Flat(a.len()),
                (l, a) => unreachable!(
                    "layer {l:?} cannot follow {a:?}; the constructors never build this"
                ),
            });
        }
        s
    }

    /// The matrix products of one training step at `batch`: per linear or convolutional layer
    /// the forward product, the weight gradient and (past the first layer) the input gradient.
    pub fn matmul_products(&self, batch: usize) -> Vec<(String, Form, Dims)> {
        let shapes = self.shapes();
        let mut v = Vec::new();
        let mut i = 0;
        for (k, layer) in self.layers.iter().enumerate() {
            let (rows, inp, out) = match (*layer, shapes[k]) {
                (Layer::Linear { inp, out }, _) => (batch, inp, out),
                (Layer::Conv2d { cin, cout, k, pad }, Act::Image(_, h, w)) => (
                    batch * (h + 2 * pad + 1 - k) * (w + 2 * pad + 1 - k),
                    cin * k * k,
                    cout,
                ),
                _ => continue,
            };
            v.push((
                format!("fwd L{i} X·Wᵀ"),
                Form::ABt,
                Dims {
                    m: rows,
                    n: out,
                    k: inp,
                },
            ));
            v.push((
                format!("dW L{i} dYᵀ·X"),
                Form::AtB,
                Dims {
                    m: out,
                    n: inp,
                    k: rows,
                },
            ));
            if k > 0 {
                v.push((
                    format!("dX L{i} dY·W"),
                    Form::AB,
                    Dims {
                        m: rows,
                        n: inp,
                        k: out,
                    },
                ));
            }
            i += 1;
        }
        v
    }
}
