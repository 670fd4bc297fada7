//! Models as a list of layers over one flat parameter vector, their PyTorch-style names and
//! initialisation, a CPU f64 reference of the whole forward and backward pass, and the GPU
//! gradient evaluator.

pub mod reference;

#[cfg(not(target_arch = "wasm32"))]
pub mod evaluator;

use crate::error::{Error, Result};
use crate::rng::Pcg;

/// One layer of a model.
#[derive(Clone, Debug, PartialEq)]
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
            classes,
            params,
            name,
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

    /// The parameter tensors of each linear layer, in order: (weight, bias).
    pub(crate) fn linear_params(&self) -> Vec<(&Param, &Param)> {
        self.params.chunks(2).map(|c| (&c[0], &c[1])).collect()
    }

    /// Width of each layer's output, with the input width first.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.input];
        for l in &self.layers {
            w.push(match *l {
                Layer::Linear { out, .. } => out,
                Layer::Relu => *w.last().expect("input width"),
            });
        }
        w
    }
}
