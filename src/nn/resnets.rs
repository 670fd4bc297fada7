//! The residual networks with BatchNorm: He et al.'s CIFAR ResNets as akamaster's `resnet.py`
//! writes them, and the pre-activation Wide ResNets as davda54's `wide_res_net.py` does, with
//! their tensor names and initialisation, and the `--model` names that choose them. Native
//! only: the browser pages train the MLP and the CNN.

use super::layer::{Act, Init, Layer};
use super::model::Model;
use crate::error::{Error, Result};

impl Model {
    /// He et al.'s CIFAR ResNet of `depth` = 6n + 2 layers, as akamaster's `resnet.py`
    /// builds it: conv(c→16, 3×3, no bias) BN ReLU, three stages of n basic blocks at 16, 32
    /// and 64 channels (the second and third start with stride 2 and an option-A shortcut),
    /// global average pooling and a linear classifier. Tensors `conv1.weight`, `bn1.*`,
    /// `layer{1..3}.{i}.{conv1,bn1,conv2,bn2}.*`, `linear.*`; weights of convolutions and the
    /// linear layer start `kaiming_normal_`. Any image size of at least 4×4 works.
    pub fn resnet(
        depth: usize,
        channels: usize,
        height: usize,
        width: usize,
        classes: usize,
    ) -> Result<Model> {
        if depth < 8 || !(depth - 2).is_multiple_of(6) {
            return Err(Error::Invalid(resnet_depth_error(depth)));
        }
        if channels == 0 || height < 4 || width < 4 || classes < 2 {
            return Err(Error::Invalid(format!(
                "a ResNet needs images of at least 4×4 and 2 classes, got \
                 {channels}×{height}×{width} and {classes}"
            )));
        }
        let n = (depth - 2) / 6;
        let named = |s: String| Some(s);
        let mut layers = vec![
            (
                Layer::Conv2d {
                    cin: channels,
                    cout: 16,
                    k: 3,
                    pad: 1,
                    stride: 1,
                    bias: false,
                },
                named("conv1".into()),
            ),
            (Layer::BatchNorm { c: 16, relu: true }, named("bn1".into())),
        ];
        let mut cin = 16;
        for stage in 0..3 {
            let cout = 16 << stage;
            for i in 0..n {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let block = Layer::Block { cin, cout, stride };
                layers.push((block, named(format!("layer{}.{i}", stage + 1))));
                cin = cout;
            }
        }
        let mut model = pooled_classifier(
            layers,
            (64, "linear", classes),
            format!("resnet{depth} {channels}×{height}×{width}→{classes}"),
            Act::Image(channels, height, width),
        )?;
        for p in &mut model.params {
            if p.name.ends_with("weight") && p.shape.len() >= 2 {
                p.init = Init::KaimingNormal;
            }
        }
        Ok(model)
    }

    /// The pre-activation Wide ResNet WRN-`depth`-`width` as davda54's `wide_res_net.py`
    /// builds it: conv(c→16, no bias); three stages at 16·width, 32·width and 64·width
    /// channels, each a downsample unit (stride 1, 2, 2) and (depth − 4)/6 basic units;
    /// BatchNorm ReLU, global average pooling and a linear classifier. Tensors
    /// `f.0_convolution.weight`, `f.{1..3}_block.block.{i}.…`, `f.4_normalization.*`,
    /// `f.8_classification.*`; convolutions start `kaiming_normal_`, the classifier at zero.
    pub fn wrn(
        depth: usize,
        width: usize,
        (channels, height, width_px): (usize, usize, usize),
        classes: usize,
    ) -> Result<Model> {
        if depth < 4 || !(depth - 4).is_multiple_of(6) || width == 0 {
            return Err(Error::Invalid(wrn_error(depth, width)));
        }
        if channels == 0 || height < 4 || width_px < 4 || classes < 2 {
            return Err(Error::Invalid(format!(
                "a Wide ResNet needs images of at least 4×4 and 2 classes, got \
                 {channels}×{height}×{width_px} and {classes}"
            )));
        }
        let named = |s: String| Some(s);
        let stem = Layer::Conv2d {
            cin: channels,
            cout: 16,
            k: 3,
            pad: 1,
            stride: 1,
            bias: false,
        };
        let mut layers = vec![(stem, named("f.0_convolution".into()))];
        let mut cin = 16;
        for stage in 1..=3 {
            let cout = (16 << (stage - 1)) * width;
            let stride = if stage == 1 { 1 } else { 2 };
            for i in 0..=(depth - 4) / 6 {
                let unit = Layer::WideUnit {
                    cin,
                    cout,
                    stride: if i == 0 { stride } else { 1 },
                    down: i == 0,
                    dropout: 0.0,
                };
                layers.push((unit, named(format!("f.{stage}_block.block.{i}"))));
                cin = cout;
            }
        }
        let norm = Layer::BatchNorm { c: cin, relu: true };
        layers.push((norm, named("f.4_normalization".into())));
        let mut model = pooled_classifier(
            layers,
            (cin, "f.8_classification", classes),
            format!("wrn-{depth}-{width} {channels}×{height}×{width_px}→{classes}"),
            Act::Image(channels, height, width_px),
        )?;
        for p in &mut model.params {
            if p.name.starts_with("f.8_classification") {
                p.init = Init::Fill(0.0);
            } else if p.name.ends_with("weight") && p.shape.len() == 4 {
                p.init = Init::KaimingNormal;
            }
        }
        Ok(model)
    }

    /// This model with dropout at `rate` wherever it has dropout (`--dropout`): every Wide
    /// ResNet unit, and every place a BERT drops. A rate outside [0, 1), or above 0 for a
    /// model without such layers, is an error.
    pub fn with_dropout(mut self, rate: f32) -> Result<Model> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::Invalid(format!(
                "--dropout must be in [0, 1), got {rate}"
            )));
        }
        let mut units = 0;
        for layer in &mut self.layers {
            match layer {
                Layer::WideUnit { dropout, .. }
                | Layer::BertEmbeddings { dropout, .. }
                | Layer::BertLayer { dropout, .. }
                | Layer::Dropout { rate: dropout } => {
                    *dropout = rate;
                    units += 1;
                }
                _ => {}
            }
        }
        if rate > 0.0 && units == 0 {
            return Err(Error::Invalid(format!(
                "--dropout applies to Wide ResNets (--model wrn-D-K) and BERTs; {} has no \
                 dropout layer",
                self.name
            )));
        }
        Ok(self)
    }
}

/// The model `name` on inputs of shape `input`: `layers`, then global average pooling and the
/// linear classifier `linear` from `c` features to `classes`.
fn pooled_classifier(
    mut layers: Vec<(Layer, Option<String>)>,
    (c, linear, classes): (usize, &str, usize),
    name: String,
    input: Act,
) -> Result<Model> {
    layers.push((Layer::GlobalAvgPool, None));
    let head = Layer::Linear {
        inp: c,
        out: classes,
    };
    layers.push((head, Some(linear.to_string())));
    Model::new(name, input, classes, layers)
}

/// The depth of `--model resnetN`, or an error listing the valid ones.
pub fn resnet_depth(kind: &str) -> Result<usize> {
    match kind["resnet".len()..].parse::<usize>() {
        Ok(d) if d >= 8 && (d - 2).is_multiple_of(6) => Ok(d),
        Ok(d) => Err(Error::Invalid(resnet_depth_error(d))),
        Err(_) => Err(Error::Invalid(format!(
            "--model {kind}: expected resnet followed by a depth, such as resnet20"
        ))),
    }
}

fn resnet_depth_error(depth: usize) -> String {
    format!(
        "--model resnet{depth}: a CIFAR ResNet has 6n+2 layers; valid depths are 8, 14, 20, \
         26, 32, 44, 56, 110, ... (resnet20, resnet32 and resnet56 are the usual ones); \
         resnet18, resnet34, resnet50, resnet101 and resnet152 are torchvision's ImageNet ResNets"
    )
}

/// The depth and width of `--model wrn-D-K`, or an error saying what they must be.
pub fn wrn_size(kind: &str) -> Result<(usize, usize)> {
    let parts: Vec<&str> = kind.split('-').collect();
    let parse = |s: &str| s.parse::<usize>().ok();
    match parts[..] {
        ["wrn", d, k] => match (parse(d), parse(k)) {
            (Some(d), Some(k)) if d >= 4 && (d - 4).is_multiple_of(6) && k > 0 => Ok((d, k)),
            (Some(d), Some(k)) => Err(Error::Invalid(wrn_error(d, k))),
            _ => Err(Error::Invalid(format!(
                "--model {kind}: expected wrn-DEPTH-WIDTH, such as wrn-28-10"
            ))),
        },
        _ => Err(Error::Invalid(format!(
            "--model {kind}: expected wrn-DEPTH-WIDTH, such as wrn-28-10"
        ))),
    }
}

fn wrn_error(depth: usize, width: usize) -> String {
    format!(
        "--model wrn-{depth}-{width}: a Wide ResNet's depth D needs D - 4 divisible by 6 (10, \
         16, 22, 28, 40, ...) and its width K at least 1 (wrn-16-8, wrn-28-2 and wrn-28-10 \
         are the usual ones)"
    )
}
