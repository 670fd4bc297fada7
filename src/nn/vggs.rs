//! VGG with BatchNorm for CIFAR, as kuangliu/pytorch-cifar's `vgg.py` builds it, with its
//! tensor names, and the `--model vggN-bn` names that choose it. Native only, as the ResNets.

use super::layer::{Act, Layer};
use super::model::Model;
use crate::error::{Error, Result};

/// One entry of a VGG configuration: a convolution to this many channels, or a max pool.
#[derive(Clone, Copy)]
enum Entry {
    Conv(usize),
    Pool,
}

/// `vgg.py`'s `cfg` for VGG-`depth`: the convolutions' widths with an `M` (a pool) after each
/// stage.
fn config(depth: usize) -> Option<Vec<Entry>> {
    let per_stage: [usize; 5] = match depth {
        11 => [1, 1, 2, 2, 2],
        13 => [2, 2, 2, 2, 2],
        16 => [2, 2, 3, 3, 3],
        19 => [2, 2, 4, 4, 4],
        _ => return None,
    };
    let widths = [64, 128, 256, 512, 512];
    let mut out = Vec::new();
    for (n, width) in per_stage.into_iter().zip(widths) {
        out.extend(std::iter::repeat_n(Entry::Conv(width), n));
        out.push(Entry::Pool);
    }
    Some(out)
}

impl Model {
    /// VGG-`depth` with BatchNorm (11, 13, 16 or 19) on `channels`×32×32 images, as
    /// kuangliu/pytorch-cifar's `VGG` builds it: `features`, 3×3 convolutions (padding 1,
    /// with bias) each followed by BatchNorm and ReLU, and a 2×2 max pool after each of the
    /// five stages, so the images come out 512×1×1; then `vgg.py`'s 1×1 average pool (an
    /// identity) and `classifier`, a linear layer from the 512 features. The tensors are
    /// `features.{i}.*`, numbered as `nn.Sequential` numbers its modules (a ReLU, a pool and
    /// the average pool take an index and own no tensors), and `classifier.*`, with PyTorch's
    /// default initialisation, so `load_state_dict(strict=True)` reads sampa's files and
    /// sampa reads PyTorch's.
    pub fn vgg(
        depth: usize,
        (channels, height, width): (usize, usize, usize),
        classes: usize,
    ) -> Result<Model> {
        let config = config(depth).ok_or_else(|| Error::Invalid(vgg_depth_error(depth)))?;
        if (height, width) != (32, 32) || channels == 0 || classes < 2 {
            return Err(Error::Invalid(format!(
                "--model vgg{depth}-bn: VGG's five poolings and its 512-feature classifier \
                 need 32×32 images and 2 classes or more, got {channels}×{height}×{width} \
                 images and {classes} classes; resize the data with --image-size 32"
            )));
        }
        let mut layers = Vec::new();
        let (mut index, mut cin) = (0, channels);
        let named = |i: usize| Some(format!("features.{i}"));
        for entry in config {
            match entry {
                Entry::Conv(cout) => {
                    let conv = Layer::conv3x3(cin, cout);
                    // The ReLU (index + 2) runs in the BatchNorm's pass.
                    let norm = Layer::BatchNorm {
                        c: cout,
                        relu: true,
                    };
                    layers.push((conv, named(index)));
                    layers.push((norm, named(index + 1)));
                    (index, cin) = (index + 3, cout);
                }
                Entry::Pool => {
                    layers.push((Layer::MaxPool2, None));
                    index += 1;
                }
            }
        }
        layers.push((Layer::Flatten, None));
        let classifier = Layer::Linear {
            inp: 512,
            out: classes,
        };
        layers.push((classifier, Some("classifier".to_string())));
        Model::new(
            format!("vgg{depth}-bn {channels}×{height}×{width}→{classes}"),
            Act::Image(channels, height, width),
            classes,
            layers,
        )
    }
}

/// The depth of `--model vggN-bn`, or an error listing the valid ones.
pub fn vgg_depth(kind: &str) -> Result<usize> {
    let depth = kind
        .strip_prefix("vgg")
        .and_then(|s| s.strip_suffix("-bn"))
        .and_then(|d| d.parse::<usize>().ok());
    match depth {
        Some(d) if config(d).is_some() => Ok(d),
        Some(d) => Err(Error::Invalid(vgg_depth_error(d))),
        None => Err(Error::Invalid(format!(
            "--model {kind}: expected vgg11-bn, vgg13-bn, vgg16-bn or vgg19-bn (VGG with \
             BatchNorm)"
        ))),
    }
}

fn vgg_depth_error(depth: usize) -> String {
    format!(
        "--model vgg{depth}-bn: VGG comes in depths 11, 13, 16 and 19 (vgg11-bn, vgg13-bn, \
         vgg16-bn, vgg19-bn)"
    )
}
