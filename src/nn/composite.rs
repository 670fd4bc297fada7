//! The residual layers' parts: a ResNet block's and a wide unit's convolutions and
//! BatchNorms with their module names, from which their tensors, state and products follow.
//! Native only, like the models that use them (`super::resnets`).

use super::layer::{Act, Layer, TensorSpec};

/// The tensors of a sub-module called `prefix` inside a layer, renamed `prefix.suffix`.
fn within(prefix: &str, specs: Vec<TensorSpec>) -> Vec<TensorSpec> {
    specs
        .into_iter()
        .map(|t| TensorSpec {
            suffix: format!("{prefix}.{}", t.suffix),
            ..t
        })
        .collect()
}

impl Layer {
    /// A block's or a wide unit's parts with their module names, in `state_dict` order.
    pub(crate) fn parts(self) -> Vec<(&'static str, Layer)> {
        match self {
            Layer::Block { .. } => {
                let [c1, b1, c2, b2] = self.block_parts();
                vec![("conv1", c1), ("bn1", b1), ("conv2", c2), ("bn2", b2)]
            }
            _ => self.wide_parts(),
        }
    }

    /// The parts' trainable tensors (or, with `state`, their running statistics), each named
    /// `part.suffix`.
    pub(crate) fn composite_tensors(self, state: bool) -> Vec<TensorSpec> {
        let of = |l: Layer| {
            if state {
                l.state_tensors()
            } else {
                l.tensors()
            }
        };
        self.parts()
            .into_iter()
            .flat_map(|(name, l)| within(name, of(l)))
            .collect()
    }

    /// The parts that run matrix products, each with its input shape.
    pub(crate) fn composite_products(self, input: Act) -> Vec<(Layer, Act)> {
        let checked = "checked when the model was built";
        match self {
            Layer::Block { .. } => {
                let [c1, _, c2, _] = self.block_parts();
                vec![(c1, input), (c2, c1.output(input).expect(checked))]
            }
            Layer::WideUnit { down, .. } => {
                let parts = self.wide_parts();
                let mid = parts[1].1.output(input).expect(checked);
                let mut v = vec![(parts[1].1, input), (parts[3].1, mid)];
                if down {
                    v.push((parts[4].1, input));
                }
                v
            }
            _ => Vec::new(),
        }
    }

    /// A wide unit's layers in `state_dict` order with their module names: the first
    /// BatchNorm (with its ReLU), conv, BatchNorm (with its ReLU), conv, and for a downsample
    /// unit the 1×1 convolution last.
    pub(crate) fn wide_parts(self) -> Vec<(&'static str, Layer)> {
        let Layer::WideUnit {
            cin,
            cout,
            stride,
            down,
            ..
        } = self
        else {
            unreachable!("only a wide unit has wide parts")
        };
        let conv = |cin, k, pad, stride| Layer::Conv2d {
            cin,
            cout,
            k,
            pad,
            stride,
            bias: false,
        };
        let bn = |c| Layer::BatchNorm { c, relu: true };
        if down {
            vec![
                ("norm_act.0_normalization", bn(cin)),
                ("block.0_convolution", conv(cin, 3, 1, stride)),
                ("block.1_normalization", bn(cout)),
                ("block.4_convolution", conv(cout, 3, 1, 1)),
                ("downsample", conv(cin, 1, 0, stride)),
            ]
        } else {
            vec![
                ("block.0_normalization", bn(cin)),
                ("block.2_convolution", conv(cin, 3, 1, 1)),
                ("block.3_normalization", bn(cout)),
                ("block.6_convolution", conv(cout, 3, 1, 1)),
            ]
        }
    }

    /// A block's layers in order: conv1, bn1 (with its ReLU), conv2, bn2 (whose ReLU comes
    /// after the residual add).
    pub(crate) fn block_parts(self) -> [Layer; 4] {
        let Layer::Block { cin, cout, stride } = self else {
            unreachable!("only a block has parts")
        };
        let conv = |cin, stride| Layer::Conv2d {
            cin,
            cout,
            k: 3,
            pad: 1,
            stride,
            bias: false,
        };
        [
            conv(cin, stride),
            Layer::BatchNorm {
                c: cout,
                relu: true,
            },
            conv(cout, 1),
            Layer::BatchNorm {
                c: cout,
                relu: false,
            },
        ]
    }
}
