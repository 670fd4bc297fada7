//! torchvision's ImageNet ResNets (`torchvision/models/resnet.py`): ResNet-18 and -34 of
//! `BasicBlock`s, ResNet-50, -101 and -152 of `Bottleneck`s (v1.5, strided in the 3×3), with
//! torchvision's tensor names and initialisation and the `--model` names that choose them.
//! Native only, like the CIFAR ResNets.

use super::layer::{Act, Init, Layer};
use super::model::Model;
use crate::error::{Error, Result};

/// The torchvision depths, each with its block kind and blocks per stage.
const DEPTHS: [(usize, bool, [usize; 4]); 5] = [
    (18, false, [2, 2, 2, 2]),
    (34, false, [3, 4, 6, 3]),
    (50, true, [3, 4, 6, 3]),
    (101, true, [3, 4, 23, 3]),
    (152, true, [3, 8, 36, 3]),
];

/// The depth of `--model kind` when it names one of torchvision's ResNets (resnet18, 34, 50,
/// 101, 152; the other depths of the form 6n+2 are the CIFAR ResNets).
pub fn torchvision_depth(kind: &str) -> Option<usize> {
    kind.strip_prefix("resnet")
        .and_then(|d| d.parse::<usize>().ok())
        .filter(|d| DEPTHS.iter().any(|&(depth, ..)| depth == *d))
}

impl Model {
    /// torchvision's `resnet{depth}`: conv1 (7×7, stride 2, padding 3, c→64, no bias), bn1,
    /// ReLU, a 3×3 max pool with stride 2 and padding 1, four stages `layer1`–`layer4` of
    /// blocks at widths 64, 128, 256 and 512 (the last three start with stride 2), global
    /// average pooling and the classifier `fc`. Convolutions start `kaiming_normal_` with
    /// mode `fan_out`, BatchNorms at γ = 1, β = 0, `fc` at PyTorch's default for `Linear`.
    /// Images of at least 16×16.
    pub fn torchvision_resnet(
        depth: usize,
        (channels, height, width): (usize, usize, usize),
        classes: usize,
    ) -> Result<Model> {
        let Some(&(_, bottleneck, blocks)) = DEPTHS.iter().find(|&&(d, ..)| d == depth) else {
            return Err(Error::Invalid(format!(
                "--model resnet{depth}: torchvision's ResNets are resnet18, resnet34, \
                 resnet50, resnet101 and resnet152"
            )));
        };
        if channels == 0 || height < 16 || width < 16 || classes < 2 {
            return Err(Error::Invalid(format!(
                "--model resnet{depth} needs images of at least 16×16 and 2 classes, got \
                 {channels}×{height}×{width} and {classes}; raise --image-size"
            )));
        }
        let stem = Layer::Conv2d {
            cin: channels,
            cout: 64,
            k: 7,
            pad: 3,
            stride: 2,
            bias: false,
        };
        let mut layers = vec![
            (stem, Some("conv1".to_string())),
            (Layer::BatchNorm { c: 64, relu: true }, Some("bn1".into())),
            (
                Layer::MaxPool {
                    k: 3,
                    stride: 2,
                    pad: 1,
                },
                None,
            ),
        ];
        let mut cin = 64;
        for (stage, &n) in blocks.iter().enumerate() {
            for i in 0..n {
                let block = Layer::TvBlock {
                    cin,
                    width: 64 << stage,
                    stride: if stage > 0 && i == 0 { 2 } else { 1 },
                    bottleneck,
                };
                layers.push((block, Some(format!("layer{}.{i}", stage + 1))));
                cin = block.tv_out();
            }
        }
        layers.push((Layer::GlobalAvgPool, None));
        let fc = Layer::Linear {
            inp: cin,
            out: classes,
        };
        layers.push((fc, Some("fc".into())));
        let mut model = Model::new(
            format!("resnet{depth} {channels}×{height}×{width}→{classes}"),
            Act::Image(channels, height, width),
            classes,
            layers,
        )?;
        for p in &mut model.params {
            if p.shape.len() == 4 {
                p.init = Init::KaimingNormalFanOut;
            }
        }
        Ok(model)
    }

    /// This model with each torchvision block's last BatchNorm starting at γ = 0
    /// (`zero_init_residual=True`: bn2 in a `BasicBlock`, bn3 in a `Bottleneck`), so every
    /// block starts as its shortcut. An error for a model without torchvision blocks.
    pub fn with_zero_init_residual(mut self) -> Result<Model> {
        let mut zeroed = 0;
        for p in &mut self.params {
            let last = match self.layers[p.layer] {
                Layer::TvBlock {
                    bottleneck: true, ..
                } => ".bn3.weight",
                Layer::TvBlock { .. } => ".bn2.weight",
                _ => continue,
            };
            if p.name.ends_with(last) {
                p.init = Init::Fill(0.0);
                zeroed += 1;
            }
        }
        if zeroed == 0 {
            return Err(Error::Invalid(format!(
                "--zero-init-residual applies to torchvision's ResNets (--model resnet18, 34, \
                 50, 101 or 152); {} has no such blocks",
                self.name
            )));
        }
        Ok(self)
    }
}
