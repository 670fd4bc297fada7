//! The composite layers' parts: a ResNet block's, a wide unit's and a dense block's
//! convolutions and BatchNorms, and a ViT block's LayerNorms, attention and MLP, with their
//! module names, from which their tensors, state and products follow. The ViT's are in the
//! browser build too; the others serve native models only (`super::resnets`,
//! `super::densenets`).

use super::layer::{Act, Layer, TensorSpec};
use super::pass::RefIo;
use std::ops::Range;

/// Where one part's tensors lie within its composite layer's: its elements in the layer's
/// slice of the parameter vector, its entries in the layer's list of tensor views, and its
/// elements in the layer's slice of the state vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub params: Range<usize>,
    pub views: Range<usize>,
    pub state: Range<usize>,
}

/// The spans of `parts`, in order (their tensors lie side by side in that order).
pub(crate) fn spans(parts: impl IntoIterator<Item = Layer>) -> Vec<Span> {
    let len = |ts: Vec<TensorSpec>| ts.iter().map(|t| t.shape.iter().product::<usize>()).sum();
    let (mut p, mut v, mut s) = (0, 0, 0);
    parts
        .into_iter()
        .map(|l| {
            let (np, nv, ns): (usize, usize, usize) =
                (len(l.tensors()), l.tensors().len(), len(l.state_tensors()));
            let span = Span {
                params: p..p + np,
                views: v..v + nv,
                state: s..s + ns,
            };
            (p, v, s) = (p + np, v + nv, s + ns);
            span
        })
        .collect()
}

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

impl<'a> RefIo<'a> {
    /// The f64 context of a part of this (composite) layer: its input shape, its slice of the
    /// layer's tensors and, in evaluation, of its running statistics.
    pub(crate) fn part(&self, span: &Span, input: Act) -> RefIo<'a> {
        RefIo {
            batch: self.batch,
            input,
            first: false,
            params: &self.params[span.params.clone()],
            state: self.state.map(|s| &s[span.state.clone()]),
            dropout: self.dropout,
            text: self.text,
        }
    }

    /// [`RefIo::part`] for part `k` of `layer`.
    pub(crate) fn part_of(&self, layer: Layer, k: usize, input: Act) -> RefIo<'a> {
        self.part(&layer.spans()[k], input)
    }
}

impl Layer {
    /// The spans of the composite layer's parts, in [`Layer::parts`] order.
    pub(crate) fn spans(self) -> Vec<Span> {
        spans(self.parts().into_iter().map(|(_, l)| l))
    }

    /// A composite layer's parts with their module names, in `state_dict` order.
    pub(crate) fn parts(self) -> Vec<(String, Layer)> {
        let named =
            |v: Vec<(&str, Layer)>| v.into_iter().map(|(n, l)| (n.to_string(), l)).collect();
        match self {
            Layer::Block { .. } => {
                let [c1, b1, c2, b2] = self.block_parts();
                named(vec![("conv1", c1), ("bn1", b1), ("conv2", c2), ("bn2", b2)])
            }
            Layer::DenseBlock { layers, .. } => (0..layers)
                .flat_map(|i| {
                    let names = ["bn1", "conv1", "bn2", "conv2"].map(|n| format!("{i}.{n}"));
                    names.into_iter().zip(self.bottleneck(i))
                })
                .collect(),
            Layer::VitBlock { .. } => named(self.vit_parts().to_vec()),
            Layer::BertLayer { .. } => named(self.bert_parts().to_vec()),
            Layer::TvBlock { .. } => named(self.tv_parts()),
            _ => named(self.wide_parts()),
        }
    }

    /// A ViT block's parts with timm's module names, in `state_dict` order: norm1, attn.qkv
    /// (width → 3·width), attn.proj, norm2, mlp.fc1 (width → 4·width), mlp.fc2.
    pub(crate) fn vit_parts(self) -> [(&'static str, Layer); 6] {
        let Layer::VitBlock { width: w, .. } = self else {
            unreachable!("only a ViT block has ViT parts")
        };
        let linear = |inp, out| Layer::Linear { inp, out };
        [
            ("norm1", Layer::LayerNorm { c: w }),
            ("attn.qkv", linear(w, 3 * w)),
            ("attn.proj", linear(w, w)),
            ("norm2", Layer::LayerNorm { c: w }),
            ("mlp.fc1", linear(w, 4 * w)),
            ("mlp.fc2", linear(4 * w, w)),
        ]
    }

    /// A BERT encoder layer's parts with Hugging Face's module names, in `state_dict` order:
    /// the query, key and value linears, the attention's output dense and LayerNorm, the
    /// intermediate dense (width → 4·width), the output dense and LayerNorm.
    pub(crate) fn bert_parts(self) -> [(&'static str, Layer); 8] {
        let Layer::BertLayer { width: w, .. } = self else {
            unreachable!("only a BERT layer has BERT parts")
        };
        let linear = |inp, out| Layer::Linear { inp, out };
        [
            ("attention.self.query", linear(w, w)),
            ("attention.self.key", linear(w, w)),
            ("attention.self.value", linear(w, w)),
            ("attention.output.dense", linear(w, w)),
            ("attention.output.LayerNorm", Layer::LayerNorm { c: w }),
            ("intermediate.dense", linear(w, 4 * w)),
            ("output.dense", linear(4 * w, w)),
            ("output.LayerNorm", Layer::LayerNorm { c: w }),
        ]
    }

    /// A dense block's bottleneck `i`: bn1 (with its ReLU) over the `cin + i·growth` channels
    /// so far, conv1 (1×1 to 4·growth), bn2 (with its ReLU), conv2 (3×3 to growth).
    pub(crate) fn bottleneck(self, i: usize) -> [Layer; 4] {
        let Layer::DenseBlock { cin, growth, .. } = self else {
            unreachable!("only a dense block has bottlenecks")
        };
        let (c, wide) = (cin + i * growth, 4 * growth);
        let conv = |cin, cout, k, pad| Layer::Conv2d {
            cin,
            cout,
            k,
            pad,
            stride: 1,
            bias: false,
        };
        let bn = |c| Layer::BatchNorm { c, relu: true };
        [
            bn(c),
            conv(c, wide, 1, 0),
            bn(wide),
            conv(wide, growth, 3, 1),
        ]
    }

    /// A dense block's BatchNorms' input shapes, in the order of its state tensors: per
    /// bottleneck, bn1's (the channels so far) and bn2's.
    pub(crate) fn dense_norm_shapes(self, input: Act) -> Vec<Act> {
        let (Layer::DenseBlock { layers, .. }, Act::Image(_, h, w)) = (self, input) else {
            unreachable!("Model::new checks a dense block's input is an image")
        };
        (0..layers)
            .flat_map(|i| {
                let [bn1, _, bn2, _] = self.bottleneck(i);
                [bn1, bn2].map(|l| match l {
                    Layer::BatchNorm { c, .. } => Act::Image(c, h, w),
                    _ => unreachable!("a bottleneck's first and third parts are BatchNorms"),
                })
            })
            .collect()
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
            .flat_map(|(name, l)| within(&name, of(l)))
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
            Layer::TvBlock { .. } => {
                let mut at = input;
                let mut v = Vec::new();
                for (name, l) in self.tv_parts() {
                    if name.starts_with("downsample") {
                        at = input;
                    }
                    if let Layer::Conv2d { .. } = l {
                        v.push((l, at));
                        at = l.output(at).expect(checked);
                    }
                }
                v
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
            Layer::DenseBlock { layers, .. } => {
                let Act::Image(_, h, w) = input else {
                    unreachable!("Model::new checks a dense block's input is an image")
                };
                (0..layers)
                    .flat_map(|i| {
                        let [_, c1, _, c2] = self.bottleneck(i);
                        let (Layer::Conv2d { cin: a, .. }, Layer::Conv2d { cin: b, .. }) = (c1, c2)
                        else {
                            unreachable!("a bottleneck's second and fourth parts are convolutions")
                        };
                        [(c1, Act::Image(a, h, w)), (c2, Act::Image(b, h, w))]
                    })
                    .collect()
            }
            Layer::VitBlock { width, .. } => {
                let Act::Seq(t, _) = input else {
                    unreachable!("Model::new checks a ViT block's input is a sequence")
                };
                let [_, qkv, proj, _, fc1, fc2] = self.vit_parts().map(|(_, l)| l);
                let seq = Act::Seq(t, width);
                vec![
                    (qkv, seq),
                    (proj, seq),
                    (fc1, seq),
                    (fc2, Act::Seq(t, 4 * width)),
                ]
            }
            Layer::BertLayer { width, .. } => {
                let Act::Seq(t, _) = input else {
                    unreachable!("Model::new checks a BERT layer's input is a sequence")
                };
                let [q, k, v, dense, _, inter, out, _] = self.bert_parts().map(|(_, l)| l);
                let seq = Act::Seq(t, width);
                vec![
                    (q, seq),
                    (k, seq),
                    (v, seq),
                    (dense, seq),
                    (inter, seq),
                    (out, Act::Seq(t, 4 * width)),
                ]
            }
            _ => Vec::new(),
        }
    }

    /// A torchvision block's output channels: its width, four times that for a bottleneck.
    pub(crate) fn tv_out(self) -> usize {
        match self {
            Layer::TvBlock {
                width,
                bottleneck: true,
                ..
            } => 4 * width,
            Layer::TvBlock { width, .. } => width,
            _ => unreachable!("only a torchvision block has a width"),
        }
    }

    /// A torchvision block's layers in `state_dict` order with torchvision's module names:
    /// the main path's convolution and BatchNorm pairs (the last BatchNorm's ReLU comes after
    /// the add, so it has none here), then, where the stride or the channels change, the
    /// downsample's 1×1 convolution and BatchNorm.
    pub(crate) fn tv_parts(self) -> Vec<(&'static str, Layer)> {
        let Layer::TvBlock {
            cin,
            width,
            stride,
            bottleneck,
        } = self
        else {
            unreachable!("only a torchvision block has torchvision parts")
        };
        let conv = |cin, cout, k, stride| Layer::Conv2d {
            cin,
            cout,
            k,
            pad: k / 2,
            stride,
            bias: false,
        };
        let bn = |c, relu| Layer::BatchNorm { c, relu };
        let out = self.tv_out();
        let mut v = if bottleneck {
            vec![
                ("conv1", conv(cin, width, 1, 1)),
                ("bn1", bn(width, true)),
                ("conv2", conv(width, width, 3, stride)),
                ("bn2", bn(width, true)),
                ("conv3", conv(width, out, 1, 1)),
                ("bn3", bn(out, false)),
            ]
        } else {
            vec![
                ("conv1", conv(cin, width, 3, stride)),
                ("bn1", bn(width, true)),
                ("conv2", conv(width, width, 3, 1)),
                ("bn2", bn(width, false)),
            ]
        };
        if stride != 1 || cin != out {
            v.push(("downsample.0", conv(cin, out, 1, stride)));
            v.push(("downsample.1", bn(out, false)));
        }
        v
    }

    /// A torchvision block's BatchNorms' input shapes, in the order of its state tensors.
    pub(crate) fn tv_norm_shapes(self, input: Act) -> Vec<Act> {
        self.composite_products(input)
            .into_iter()
            .map(|(conv, at)| conv.output(at).expect("checked when the model was built"))
            .collect()
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
