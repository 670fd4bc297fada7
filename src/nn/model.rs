//! A model: a list of layers over one flat parameter vector, plus a second flat vector of
//! non-trainable state, with PyTorch-style tensor names and initialisation.

use super::layer::{Act, Init, Layer, TensorSpec};
use crate::error::{Error, Result};
use crate::kernels::matmul::{Dims, Form};
use crate::rng::Pcg;

/// Where one named tensor lives in a flat vector.
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
    /// The layer that owns it.
    pub layer: usize,
    /// How it starts.
    pub init: Init,
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

/// A model: layers, the input, and the layout of its two flat vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Layers in order.
    pub layers: Vec<Layer>,
    /// Features of one input example.
    pub input: usize,
    /// The input's shape: an image for convolutional models, else `Flat(input)`.
    pub input_shape: Act,
    /// Output classes; 1 for a regression head, trained with mean squared error
    /// ([`Model::regression`]).
    pub classes: usize,
    /// Every trainable tensor, in layer order: the parameter vector.
    pub params: Vec<Param>,
    /// Every non-trainable tensor (running statistics of normalisation layers): the state
    /// vector, laid out like the parameters in a vector of its own.
    pub state: Vec<Param>,
    /// A short description, e.g. `mlp 784-256-256-10`.
    pub name: String,
}

/// The most parameters a model may have: the kernels index the flat vector with u32.
pub const MAX_PARAMS: u64 = u32::MAX as u64;

impl Model {
    /// Whether training drops activations somewhere (a Wide ResNet's or a BERT's `--dropout`), so that
    /// each gradient pass needs its dropout key (`Evaluator::set_dropout_keys`).
    pub fn has_dropout(&self) -> bool {
        self.layers.iter().any(|l| match *l {
            Layer::WideUnit { dropout, .. }
            | Layer::BertEmbeddings { dropout, .. }
            | Layer::BertLayer { dropout, .. }
            | Layer::Dropout { rate: dropout } => dropout > 0.0,
            _ => false,
        })
    }

    /// A fixed random batch of `batch` examples of this model's input and classes
    /// (benchmarks need shapes, not data).
    pub fn synthetic_batch(&self, batch: usize) -> crate::data::Batch {
        let mut rng = crate::rng::Pcg::new(1, 0);
        let pixels = match (self.input_shape, self.layers.first()) {
            // Text: random ids, sentence A then B, the last quarter of the tokens padding.
            (Act::Text(t), Some(Layer::BertEmbeddings { vocab, .. })) => (0..batch)
                .flat_map(|_| {
                    let mut x: Vec<f32> = (0..t).map(|_| rng.below(*vocab as u32) as f32).collect();
                    x.extend((0..t).map(|j| (j >= t / 2) as u32 as f32));
                    x.extend((0..t).map(|j| (j < t - t / 4) as u32 as f32));
                    x
                })
                .collect(),
            _ => rng.vec(batch * self.input, 0.0, 1.0),
        };
        crate::data::Batch {
            pixels,
            labels: (0..batch).map(|_| rng.below(self.classes as u32)).collect(),
            drawn: Vec::new(),
        }
    }

    /// A model of `layers` on inputs of `input_shape`, each layer that owns tensors naming them
    /// `{prefix}.{weight,bias}`. Checks that every layer accepts what the one before produces
    /// and that the last produces `classes` features.
    pub fn new(
        name: String,
        input_shape: Act,
        classes: usize,
        layers: Vec<(Layer, Option<String>)>,
    ) -> Result<Model> {
        if let (Act::Image(..), Some((first, _))) = (input_shape, layers.first())
            && !matches!(first, Layer::Conv2d { .. })
        {
            return Err(Error::Invalid(format!(
                "{name}: a model on images must start with a convolution, not {first:?}"
            )));
        }
        let mut shape = input_shape;
        let (mut params, mut state) = (Vec::new(), Vec::new());
        for (k, (layer, prefix)) in layers.iter().enumerate() {
            shape = layer.output(shape)?;
            let prefix = prefix.clone().unwrap_or_else(|| format!("layer{k}"));
            lay_out(&name, &mut params, (k, &prefix), layer.tensors())?;
            lay_out(&name, &mut state, (k, &prefix), layer.state_tensors())?;
        }
        if shape != Act::Flat(classes) || classes == 0 {
            return Err(Error::Invalid(format!(
                "{name}: the last layer produces {shape:?}, not the {classes} outputs (class \
                 scores, or one regression score) the loss needs"
            )));
        }
        Ok(Model {
            layers: layers.into_iter().map(|(l, _)| l).collect(),
            input: input_shape.len(),
            input_shape,
            classes,
            params,
            state,
            name,
        })
    }

    /// Whether the model is a regression: one output trained with mean squared error
    /// (`kernels::mse`) rather than class scores trained with cross-entropy, as Hugging
    /// Face's sequence classifiers treat a model of one label (GLUE's STS-B).
    pub fn regression(&self) -> bool {
        self.classes == 1
    }

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
        for (i, w) in widths.windows(2).enumerate() {
            if i > 0 {
                layers.push((Layer::Relu, None));
            }
            let linear = Layer::Linear {
                inp: w[0],
                out: w[1],
            };
            layers.push((linear, Some(format!("layers.{i}"))));
        }
        let name = widths.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        Model::new(
            format!("mlp {}", name.join("-")),
            Act::Flat(input),
            classes,
            layers,
        )
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
        let conv = Layer::conv3x3;
        let named = |s: &str| Some(s.to_string());
        let layers = vec![
            (conv(channels, 32), named("conv1")),
            (Layer::Relu, None),
            (Layer::MaxPool2, None),
            (conv(32, 64), named("conv2")),
            (Layer::Relu, None),
            (Layer::MaxPool2, None),
            (Layer::Flatten, None),
            (
                Layer::Linear {
                    inp: flat,
                    out: 128,
                },
                named("fc1"),
            ),
            (Layer::Relu, None),
            (
                Layer::Linear {
                    inp: 128,
                    out: classes,
                },
                named("fc2"),
            ),
        ];
        Model::new(
            format!("cnn {channels}×{height}×{width}→{classes}"),
            Act::Image(channels, height, width),
            classes,
            layers,
        )
    }

    /// Total number of parameters (the flat vector's length).
    pub fn param_count(&self) -> usize {
        self.params.iter().map(Param::len).sum()
    }

    /// Length of the state vector.
    pub fn state_count(&self) -> usize {
        self.state.iter().map(Param::len).sum()
    }

    /// The tensor called `name`.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The elements of the parameter vector layer `k` owns (its tensors lie side by side).
    pub fn layer_range(&self, k: usize) -> std::ops::Range<usize> {
        let mine = self.params.iter().filter(|p| p.layer == k);
        let (start, len) = mine.fold((usize::MAX, 0), |(s, n), p| (s.min(p.offset), n + p.len()));
        if len == 0 { 0..0 } else { start..start + len }
    }

    /// The elements of the state vector layer `k` owns.
    pub fn state_range(&self, k: usize) -> std::ops::Range<usize> {
        let mine: Vec<&Param> = self.state.iter().filter(|p| p.layer == k).collect();
        match (mine.first(), mine.last()) {
            (Some(a), Some(b)) => a.offset..b.offset + b.len(),
            _ => 0..0,
        }
    }

    /// The reference implementation's initialisation from `seed`: PyTorch's default for
    /// `Linear` and `Conv2d` (uniform in ±1/√fan_in, which Kaiming-uniform with a = √5 gives
    /// for weights), `kaiming_normal_` where the model's reference code asks for it, and
    /// BatchNorm's γ = 1, β = 0.
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = Pcg::new(seed, 0x5eed);
        let mut x = vec![0.0; self.param_count()];
        for p in &self.params {
            let bound = 1.0 / (p.fan_in as f32).sqrt();
            let std = (2.0 / p.fan_in as f32).sqrt();
            // Every dimension but the input channels' (PyTorch's fan_out).
            let fan_out: usize = p
                .shape
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != 1)
                .map(|(_, d)| d)
                .product();
            let fan_out_std = (2.0 / fan_out as f32).sqrt();
            let width = p.shape.get(1).copied().unwrap_or(1);
            for (i, v) in x[p.offset..p.offset + p.len()].iter_mut().enumerate() {
                *v = match p.init {
                    Init::NormalZeroRow(_, row) if i / width == row => 0.0,
                    Init::NormalZeroRow(s, _) => s * rng.normal(),
                    Init::Uniform => rng.uniform(-bound, bound),
                    Init::KaimingNormal => std * rng.normal(),
                    Init::KaimingNormalFanOut => fan_out_std * rng.normal(),
                    Init::Fill(f) => f,
                    Init::Normal(s) => s * rng.normal(),
                    Init::TruncNormal(s) => loop {
                        let v = s * rng.normal();
                        if v.abs() <= 2.0 {
                            break v;
                        }
                    },
                };
            }
        }
        x
    }

    /// The state vector's starting values: running means 0, running variances 1, counts 0.
    pub fn init_state(&self) -> Vec<f32> {
        let mut s = vec![0.0; self.state_count()];
        for p in &self.state {
            if let Init::Fill(f) = p.init {
                s[p.offset..p.offset + p.len()].fill(f);
            }
        }
        s
    }

    /// The activation shape after each layer, with the input's first.
    pub fn shapes(&self) -> Vec<Act> {
        let mut s = vec![self.input_shape];
        for l in &self.layers {
            let prev = *s.last().expect("input shape");
            s.push(l.output(prev).expect("checked when the model was built"));
        }
        s
    }

    /// Every layer that runs matrix products (inside blocks too), in order, with its input
    /// shape and whether it is the model's first layer (which takes no input gradient).
    pub(crate) fn product_layers(&self) -> Vec<(Layer, Act, bool)> {
        let shapes = self.shapes();
        let mut v = Vec::new();
        for (k, layer) in self.layers.iter().enumerate() {
            for (l, input) in layer.product_layers(shapes[k]) {
                v.push((l, input, k == 0));
            }
        }
        v
    }

    /// The matrix products of one training step at `batch`: per linear or convolutional layer
    /// the forward product, the weight gradient and (past the first layer) the input gradient.
    pub fn matmul_products(&self, batch: usize) -> Vec<(String, Form, Dims)> {
        let mut v = Vec::new();
        for (i, (layer, input, first)) in self.product_layers().into_iter().enumerate() {
            let out_shape = layer
                .output(input)
                .expect("checked when the model was built");
            let (rows, inp, out) = match (layer, out_shape) {
                (Layer::Linear { inp, out }, _) => (batch * input.rows(), inp, out),
                (Layer::Conv2d { cin, cout, k, .. }, Act::Image(_, ho, wo)) => {
                    (batch * ho * wo, cin * k * k, cout)
                }
                _ => continue,
            };
            let dims = |m, n, k| Dims { m, n, k };
            v.push((format!("fwd L{i} X·Wᵀ"), Form::ABt, dims(rows, out, inp)));
            v.push((format!("dW L{i} dYᵀ·X"), Form::AtB, dims(out, inp, rows)));
            if !first {
                v.push((format!("dX L{i} dY·W"), Form::AB, dims(rows, inp, out)));
            }
        }
        v
    }
}

/// Append `specs` (the tensors of layer `k`, named `prefix.suffix`) to the flat vector
/// `into`, checking its length stays indexable on the GPU before any vector of that length
/// exists: absurd widths are an error here, not an aborted allocation in `init`.
fn lay_out(
    name: &str,
    into: &mut Vec<Param>,
    (k, prefix): (usize, &str),
    specs: Vec<TensorSpec>,
) -> Result<()> {
    let mut offset = into.last().map_or(0, |p: &Param| p.offset + p.len());
    for t in specs {
        let fits = t
            .shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .and_then(|n| n.checked_add(offset as u64))
            .filter(|&end| end <= MAX_PARAMS);
        if fits.is_none() {
            return Err(Error::Invalid(format!(
                "{name}: more than {MAX_PARAMS} parameters, the most a flat parameter vector \
                 can index on the GPU (layer {k}'s tensor of shape {:?}); use smaller widths \
                 (--hidden) or images (--image-size)",
                t.shape
            )));
        }
        // A layer named "" owns top-level tensors (a ViT's `cls_token` and `pos_embed`).
        let name = if prefix.is_empty() {
            t.suffix
        } else {
            format!("{prefix}.{}", t.suffix)
        };
        let p = Param {
            name,
            shape: t.shape,
            offset,
            fan_in: t.fan_in,
            layer: k,
            init: t.init,
        };
        offset += p.len();
        into.push(p);
    }
    Ok(())
}
