//! DenseNets for CIFAR as kuangliu/pytorch-cifar's `densenet.py` builds them, with its tensor
//! names, and the `--model` names that choose them (`densenet121`, `densenet-cifar`). Native
//! only, as the ResNets.

use super::layer::{Act, Layer};
use super::model::Model;
use crate::error::{Error, Result};

/// A DenseNet's shape: the channels each bottleneck adds and the bottlenecks per dense block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DenseSpec {
    /// Channels each bottleneck adds (`growth_rate`).
    pub growth: usize,
    /// Bottlenecks in each dense block (`nblocks`).
    pub blocks: Vec<usize>,
}

/// `densenet.py`'s `reduction`: a transition halves the channels (rounded down).
const REDUCTION: f64 = 0.5;

impl DenseSpec {
    /// The DenseNet `--model kind` names: `densenet121` (growth 32) or `densenet-cifar`
    /// (growth 12), both with blocks of 6, 12, 24 and 16 bottlenecks.
    pub fn named(kind: &str) -> Result<DenseSpec> {
        let growth = match kind {
            "densenet121" => 32,
            "densenet-cifar" => 12,
            _ => {
                return Err(Error::Invalid(format!(
                    "--model {kind}: expected densenet121 (growth 32) or densenet-cifar \
                     (growth 12), kuangliu/pytorch-cifar's DenseNets"
                )));
            }
        };
        Ok(DenseSpec {
            growth,
            blocks: vec![6, 12, 24, 16],
        })
    }
}

impl Model {
    /// A DenseNet of `spec` on `channels`×H×W images, as kuangliu/pytorch-cifar's `DenseNet`
    /// builds it: `conv1` (3×3, padding 1, no bias) to 2·growth channels; then dense blocks
    /// `dense1`, `dense2`, … of bottlenecks (`denseK.N.{bn1,conv1,bn2,conv2}`, each
    /// concatenating its growth channels before its input), with a transition `transK` after
    /// every block but the last (`bn` and ReLU, `conv` 1×1 without bias to half the channels
    /// rounded down, 2×2 average pooling); then `bn` and ReLU, global average pooling (their
    /// `avg_pool2d(4)` at 32×32) and `linear`. PyTorch's default initialisation throughout,
    /// as `densenet.py` leaves it.
    pub fn densenet(
        spec: &DenseSpec,
        name: &str,
        (channels, height, width): (usize, usize, usize),
        classes: usize,
    ) -> Result<Model> {
        let smallest = 1 << spec.blocks.len().saturating_sub(1);
        if channels == 0 || height < smallest || width < smallest || classes < 2 {
            return Err(Error::Invalid(format!(
                "--model {name}: its {} 2×2 average poolings need images of at least \
                 {smallest}×{smallest} and 2 classes or more, got {channels}×{height}×{width} \
                 images and {classes} classes; resize the data with --image-size 32",
                spec.blocks.len().saturating_sub(1)
            )));
        }
        let named = |s: String| Some(s);
        let mut planes = 2 * spec.growth;
        let conv1 = Layer::Conv2d {
            cin: channels,
            cout: planes,
            k: 3,
            pad: 1,
            stride: 1,
            bias: false,
        };
        let mut layers = vec![(conv1, named("conv1".into()))];
        for (k, &n) in spec.blocks.iter().enumerate() {
            let block = Layer::DenseBlock {
                cin: planes,
                growth: spec.growth,
                layers: n,
            };
            layers.push((block, named(format!("dense{}", k + 1))));
            planes += n * spec.growth;
            if k + 1 < spec.blocks.len() {
                let out = (planes as f64 * REDUCTION).floor() as usize;
                let bn = Layer::BatchNorm {
                    c: planes,
                    relu: true,
                };
                let conv = Layer::Conv2d {
                    cin: planes,
                    cout: out,
                    k: 1,
                    pad: 0,
                    stride: 1,
                    bias: false,
                };
                layers.push((bn, named(format!("trans{}.bn", k + 1))));
                layers.push((conv, named(format!("trans{}.conv", k + 1))));
                layers.push((Layer::AvgPool2, None));
                planes = out;
            }
        }
        let bn = Layer::BatchNorm {
            c: planes,
            relu: true,
        };
        layers.push((bn, named("bn".into())));
        layers.push((Layer::GlobalAvgPool, None));
        let linear = Layer::Linear {
            inp: planes,
            out: classes,
        };
        layers.push((linear, named("linear".into())));
        Model::new(
            format!("{name} {channels}×{height}×{width}→{classes}"),
            Act::Image(channels, height, width),
            classes,
            layers,
        )
    }
}
