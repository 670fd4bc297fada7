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
    /// A convolution with a `[cout, cin, k, k]` weight, zero padding `pad`, a stride and
    /// (with `bias`) a `[cout]` bias.
    Conv2d {
        /// Input channels.
        cin: usize,
        /// Output channels.
        cout: usize,
        /// Kernel side.
        k: usize,
        /// Zero padding on each side.
        pad: usize,
        /// Step between output pixels.
        stride: usize,
        /// Whether it has a bias.
        bias: bool,
    },
    /// BatchNorm2d over `c` channels (training: the batch's statistics; evaluation: the
    /// running ones), then a ReLU when `relu`.
    BatchNorm {
        /// Channels.
        c: usize,
        /// Whether a ReLU follows, fused into the same pass.
        relu: bool,
    },
    /// A ResNet basic block (He et al.'s CIFAR ResNets as akamaster's `resnet.py` writes them):
    /// conv(3×3, stride) BN ReLU conv(3×3) BN, plus the shortcut, then ReLU. The shortcut is
    /// the identity when the shapes agree, else option A: subsample by the stride and zero-pad
    /// the channels. Tensors `conv1.weight`, `bn1.*`, `conv2.weight`, `bn2.*`.
    Block {
        /// Input channels.
        cin: usize,
        /// Output channels.
        cout: usize,
        /// The first convolution's stride, and the shortcut's subsampling.
        stride: usize,
    },
    /// A residual block of torchvision's ResNets (`torchvision/models/resnet.py`): a
    /// `BasicBlock` (conv 3×3 with the stride, BN ReLU, conv 3×3, BN) or, with `bottleneck`,
    /// a `Bottleneck` (conv 1×1, BN ReLU, conv 3×3 with the stride, BN ReLU, conv 1×1 to
    /// 4·width, BN: torchvision's v1.5, strided in the 3×3), plus the shortcut, then ReLU. The
    /// shortcut is the identity, or where the stride or the channels change `downsample`, a
    /// 1×1 convolution with the stride and a BatchNorm. Convolutions have no bias. Tensors
    /// `conv1.weight`, `bn1.*`, `conv2.weight`, `bn2.*`, [`conv3.weight`, `bn3.*`,]
    /// [`downsample.0.weight`, `downsample.1.*`].
    TvBlock {
        /// Input channels.
        cin: usize,
        /// The block's width: its output channels (a bottleneck's inner ones; it outputs 4×).
        width: usize,
        /// The 3×3 convolution's stride, and the downsample's.
        stride: usize,
        /// A `Bottleneck` rather than a `BasicBlock`.
        bottleneck: bool,
    },
    /// A pre-activation wide-ResNet unit, as davda54's `wide_res_net.py` writes it. A basic
    /// unit (`down` false; `cin` = `cout`, stride 1): BN ReLU conv BN ReLU conv, plus the
    /// input. A downsample unit (`down`, the first of each stage): BN ReLU first, then conv
    /// (with the stride) BN ReLU conv, plus a 1×1 convolution (with the stride) of the
    /// activated input.
    WideUnit {
        /// Input channels.
        cin: usize,
        /// Output channels.
        cout: usize,
        /// The first convolution's stride (and the 1×1 convolution's).
        stride: usize,
        /// Whether it is a downsample unit.
        down: bool,
        /// The rate at which training drops the second BatchNorm-ReLU's outputs before the
        /// second convolution (`wide_res_net.py`'s dropout; 0 for none). Evaluation keeps all.
        dropout: f32,
    },
    /// A DenseNet dense block as kuangliu/pytorch-cifar's `densenet.py` writes it: `layers`
    /// bottlenecks, each BN ReLU conv(1×1 → 4·growth) BN ReLU conv(3×3 → growth), all without
    /// bias, whose output is concatenated before its input (`torch.cat([out, x], 1)`), so the
    /// block makes `cin + layers·growth` channels. Tensors `{i}.bn1.*`, `{i}.conv1.weight`,
    /// `{i}.bn2.*`, `{i}.conv2.weight` for bottleneck i.
    DenseBlock {
        /// Input channels.
        cin: usize,
        /// Channels each bottleneck adds.
        growth: usize,
        /// Bottlenecks.
        layers: usize,
    },
    /// Global average pooling: an image to one feature per channel.
    GlobalAvgPool,
    /// 2×2 average pooling with stride 2 (`F.avg_pool2d(x, 2)`), channels in 4s.
    AvgPool2,
    /// 2×2 max pooling with stride 2.
    MaxPool2,
    /// Max pooling over k×k windows with a stride and padding (`nn.MaxPool2d(k, stride,
    /// pad)`; torchvision's ResNets pool their stem 3×3 with stride 2 and padding 1). The
    /// padding never wins, as PyTorch pads with −∞.
    MaxPool {
        /// Window side.
        k: usize,
        /// Step between windows.
        stride: usize,
        /// Padding on each side, at most k/2.
        pad: usize,
    },
    /// ReLU followed by 2×2 max pooling in one pass: max and ReLU commute, so the evaluator
    /// runs a `Relu` then `MaxPool2` pair as this (see `fuse`).
    ReluMaxPool2,
    /// Image activations to features, in PyTorch's (c, y, x) order.
    Flatten,
    /// A `Linear` followed by a `Relu` in one product, bias and ReLU applied in its store: the
    /// evaluator runs the pair as this when a `Linear` consumes it, and that consumer's input
    /// gradient applies the ReLU's backward (see `fuse`).
    LinearRelu {
        /// Input features.
        inp: usize,
        /// Output features.
        out: usize,
    },
    /// LayerNorm over each token's `c` features (timm's ViTs: eps 1e-6), `weight` and `bias`.
    LayerNorm {
        /// Features per token.
        c: usize,
    },
    /// A ViT's token sequence from its patch embeddings (the patch convolution's output, one
    /// pixel per patch): a learned class token first, then the patches in raster order, plus
    /// learned position embeddings. Tensors `cls_token` `[1, 1, width]` and `pos_embed`
    /// `[1, tokens, width]`, as timm's `VisionTransformer` names them.
    Tokens {
        /// Features per token.
        width: usize,
        /// Tokens, the class token included.
        tokens: usize,
    },
    /// A pre-norm transformer encoder block as timm's `Block` writes it: x + attn(norm1(x)),
    /// then that plus mlp(norm2(·)), with multi-head self-attention (one fused qkv linear with
    /// bias, scale head_dim^−½) and a GELU MLP of ratio 4. Tensors `norm1.*`, `attn.qkv.*`,
    /// `attn.proj.*`, `norm2.*`, `mlp.fc1.*`, `mlp.fc2.*`.
    VitBlock {
        /// Features per token.
        width: usize,
        /// Attention heads; they divide the width.
        heads: usize,
    },
    /// The class token's features, the first of each sequence (timm's `global_pool='token'`;
    /// BERT's pooler reads its `[CLS]` token the same way).
    ClassToken,
    /// BERT's embeddings (Hugging Face's `BertEmbeddings`): from the text batch, each token's
    /// word, position and token-type embeddings summed, then LayerNorm (eps 1e-12). Tensors
    /// `word_embeddings.weight` `[vocab, width]`, `position_embeddings.weight`
    /// `[positions, width]`, `token_type_embeddings.weight` `[2, width]`, `LayerNorm.*`.
    BertEmbeddings {
        /// Rows of the word table: the tokenizer's ids.
        vocab: usize,
        /// Rows of the position table (`max_position_embeddings`), at least the tokens.
        positions: usize,
        /// Features per token.
        width: usize,
        /// The rate at which training drops the embeddings after their LayerNorm (Hugging
        /// Face's `hidden_dropout_prob`; 0 for none).
        dropout: f32,
    },
    /// A post-norm transformer encoder layer as Hugging Face's `BertLayer` writes it:
    /// h = LayerNorm(x + dense(attention(query(x), key(x), value(x)))), then
    /// y = LayerNorm(h + dense(gelu(dense(h)))), the attention leaving padded keys out (the
    /// text batch's mask), scale head_dim^−½, the intermediate 4·width wide, eps 1e-12.
    /// Tensors `attention.self.{query,key,value}.*`, `attention.output.dense.*`,
    /// `attention.output.LayerNorm.*`, `intermediate.dense.*`, `output.dense.*`,
    /// `output.LayerNorm.*`.
    BertLayer {
        /// Features per token.
        width: usize,
        /// Attention heads; they divide the width.
        heads: usize,
        /// The rate at which training drops the attention probabilities and each dense
        /// output before its residual add (Hugging Face's `attention_probs_dropout_prob` and
        /// `hidden_dropout_prob`; 0 for none).
        dropout: f32,
    },
    /// y = tanh(x) (BERT's pooler activation).
    Tanh,
    /// Inverted dropout at `rate` while training (`kernels::dropout`'s masks), the identity in
    /// evaluation: BERT's dropout before its classifier.
    Dropout {
        /// The rate, in [0, 1).
        rate: f32,
    },
}

/// Rows of BERT's token-type table (Hugging Face's `type_vocab_size`): sentence A and B.
pub const BERT_TYPES: usize = 2;

/// The shape of one example's activations after a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// A feature vector.
    Flat(usize),
    /// An image: channels, height, width.
    Image(usize, usize, usize),
    /// A sequence: tokens, features per token (row-major, a token's features together).
    Seq(usize, usize),
    /// A text batch's example of this many tokens: their ids, then their token types, then
    /// their attention mask (1 for a token, 0 for padding), integers stored as f32 (Hugging
    /// Face's `input_ids`, `token_type_ids` and `attention_mask` side by side).
    Text(usize),
}

impl Act {
    /// Values per example.
    pub fn len(self) -> usize {
        match self {
            Act::Flat(f) => f,
            Act::Image(c, h, w) => c * h * w,
            Act::Seq(t, w) => t * w,
            Act::Text(t) => 3 * t,
        }
    }

    /// The rows a dense product sees per example: a sequence's tokens, else 1.
    pub fn rows(self) -> usize {
        match self {
            Act::Seq(t, _) => t,
            _ => 1,
        }
    }

    /// Whether there are no values.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// Whether a block from `cin` to `cout` channels with `stride` has a shortcut: the identity
/// (same shapes), or option A, whose zero channels split evenly on both sides.
fn block_shortcut(cin: usize, cout: usize, stride: usize) -> bool {
    let identity = cin == cout && stride == 1;
    let option_a = cout > cin && (cout - cin).is_multiple_of(2) && stride > 0;
    cin > 0 && (identity || option_a)
}

/// How a tensor starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Uniform in ±1/√fan_in: PyTorch's default for `Linear` and `Conv2d`.
    Uniform,
    /// Normal with standard deviation √(2/fan_in): `kaiming_normal_` (fan_in, ReLU gain),
    /// the ResNets' weights.
    KaimingNormal,
    /// Normal with standard deviation √(2/fan_out), fan_out = out channels × k × k:
    /// `kaiming_normal_(mode="fan_out", nonlinearity="relu")`, torchvision's ResNets' weights.
    KaimingNormalFanOut,
    /// Every element this value (BatchNorm's γ = 1, β = 0; running statistics).
    Fill(f32),
    /// Normal with this standard deviation (timm's `cls_token`: 1e-6).
    Normal(f32),
    /// Normal with this standard deviation, redrawn outside ±2 (timm's `trunc_normal_`
    /// with its default bounds, which are absolute): ViT weights and position embeddings.
    TruncNormal(f32),
    /// Normal with this standard deviation, but row `row` (of a `[rows, width]` table) zero:
    /// BERT's word embeddings, whose `[PAD]` row Hugging Face's `padding_idx` zeroes.
    NormalZeroRow(f32, usize),
}

/// A tensor a layer owns: the name's last part, the PyTorch shape, the fan-in and the
/// initialisation.
pub(crate) struct TensorSpec {
    pub suffix: String,
    pub shape: Vec<usize>,
    pub fan_in: usize,
    pub init: Init,
}

pub(crate) fn spec(suffix: &str, shape: Vec<usize>, fan_in: usize, init: Init) -> TensorSpec {
    TensorSpec {
        suffix: suffix.to_string(),
        shape,
        fan_in,
        init,
    }
}

impl Layer {
    /// PyTorch's `nn.Conv2d(cin, cout, 3, padding=1)`: a 3×3 convolution, stride 1, with bias.
    pub fn conv3x3(cin: usize, cout: usize) -> Layer {
        Layer::Conv2d {
            cin,
            cout,
            k: 3,
            pad: 1,
            stride: 1,
            bias: true,
        }
    }

    /// What the layer produces from `input`, or an error naming the mismatch.
    pub fn output(self, input: Act) -> Result<Act> {
        let bad = || Error::Invalid(format!("layer {self:?} cannot take input {input:?}"));
        Ok(match (self, input) {
            // A linear layer on a sequence maps each token (PyTorch's nn.Linear on [N, T, C]).
            (Layer::Linear { inp, out }, Act::Seq(t, w)) if w == inp => Act::Seq(t, out),
            (Layer::Linear { inp, out } | Layer::LinearRelu { inp, out }, a) if a.len() == inp => {
                Act::Flat(out)
            }
            (Layer::Relu, a) => a,
            (
                Layer::Conv2d {
                    cin,
                    cout,
                    k,
                    pad,
                    stride,
                    ..
                },
                Act::Image(c, h, w),
            ) if c == cin && h + 2 * pad >= k && w + 2 * pad >= k && stride > 0 => Act::Image(
                cout,
                (h + 2 * pad - k) / stride + 1,
                (w + 2 * pad - k) / stride + 1,
            ),
            (Layer::BatchNorm { c, .. }, a @ Act::Image(ch, ..)) if c == ch => a,
            (Layer::TvBlock { cin, stride, .. }, Act::Image(c, h, w)) if c == cin && stride > 0 => {
                Act::Image(self.tv_out(), (h - 1) / stride + 1, (w - 1) / stride + 1)
            }
            (Layer::Block { cin, cout, stride }, Act::Image(c, h, w))
                if c == cin && block_shortcut(cin, cout, stride) =>
            {
                Act::Image(cout, h.div_ceil(stride), w.div_ceil(stride))
            }
            (
                Layer::WideUnit {
                    cin,
                    cout,
                    stride,
                    down,
                    ..
                },
                Act::Image(c, h, w),
            ) if c == cin && stride > 0 && (down || (cin == cout && stride == 1)) => {
                Act::Image(cout, (h + 2 - 3) / stride + 1, (w + 2 - 3) / stride + 1)
            }
            (
                Layer::DenseBlock {
                    cin,
                    growth,
                    layers,
                },
                Act::Image(c, h, w),
            ) if c == cin && cin.is_multiple_of(4) && growth.is_multiple_of(4) && growth > 0 => {
                Act::Image(cin + layers * growth, h, w)
            }
            (Layer::GlobalAvgPool, Act::Image(c, ..)) => Act::Flat(c),
            (Layer::AvgPool2, Act::Image(c, h, w)) if h >= 2 && w >= 2 && c.is_multiple_of(4) => {
                Act::Image(c, h / 2, w / 2)
            }
            (Layer::MaxPool2 | Layer::ReluMaxPool2, Act::Image(c, h, w)) if h >= 2 && w >= 2 => {
                Act::Image(c, h / 2, w / 2)
            }
            (Layer::MaxPool { k, stride, pad }, Act::Image(c, h, w)) => {
                let window = crate::kernels::maxpool::window::WindowShape {
                    n: 1,
                    h,
                    w,
                    c,
                    k,
                    stride,
                    pad,
                };
                let (ho, wo) = window.out_hw().ok_or_else(bad)?;
                Act::Image(c, ho, wo)
            }
            (Layer::Flatten, a @ Act::Image(..)) => Act::Flat(a.len()),
            (Layer::LayerNorm { c }, a @ Act::Seq(_, w)) if w == c && c > 0 => a,
            (Layer::Tokens { width, tokens }, Act::Image(c, h, w))
                if c == width && h * w + 1 == tokens =>
            {
                Act::Seq(tokens, width)
            }
            (Layer::VitBlock { width, heads }, a @ Act::Seq(_, w))
                if w == width && heads > 0 && width.is_multiple_of(heads) =>
            {
                a
            }
            (Layer::ClassToken, Act::Seq(_, w)) => Act::Flat(w),
            (
                Layer::BertEmbeddings {
                    vocab,
                    positions,
                    width,
                    ..
                },
                Act::Text(t),
            ) if t > 0 && t <= positions && vocab > 0 && width > 0 => Act::Seq(t, width),
            (Layer::BertLayer { width, heads, .. }, a @ Act::Seq(_, w))
                if w == width && heads > 0 && width.is_multiple_of(heads) =>
            {
                a
            }
            (Layer::Tanh | Layer::Dropout { .. }, a) => a,
            _ => return Err(bad()),
        })
    }

    /// The number of trainable values the layer owns.
    pub fn param_len(self) -> usize {
        let len = |t: &TensorSpec| t.shape.iter().product::<usize>();
        self.tensors().iter().map(len).sum()
    }

    /// The trainable tensors the layer owns, in the order they lie in the parameter vector
    /// (PyTorch's `state_dict` order).
    pub(crate) fn tensors(self) -> Vec<TensorSpec> {
        let u = Init::Uniform;
        match self {
            Layer::Linear { inp, out } | Layer::LinearRelu { inp, out } => vec![
                spec("weight", vec![out, inp], inp, u),
                spec("bias", vec![out], inp, u),
            ],
            Layer::Conv2d {
                cin, cout, k, bias, ..
            } => {
                let fan_in = cin * k * k;
                let mut v = vec![spec("weight", vec![cout, cin, k, k], fan_in, u)];
                if bias {
                    v.push(spec("bias", vec![cout], fan_in, u));
                }
                v
            }
            Layer::BatchNorm { c, .. } | Layer::LayerNorm { c } => vec![
                spec("weight", vec![c], c, Init::Fill(1.0)),
                spec("bias", vec![c], c, Init::Fill(0.0)),
            ],
            Layer::Tokens { width, tokens } => vec![
                spec("cls_token", vec![1, 1, width], width, Init::Normal(1e-6)),
                spec(
                    "pos_embed",
                    vec![1, tokens, width],
                    width,
                    Init::TruncNormal(0.02),
                ),
            ],
            Layer::Block { .. }
            | Layer::TvBlock { .. }
            | Layer::WideUnit { .. }
            | Layer::DenseBlock { .. }
            | Layer::VitBlock { .. }
            | Layer::BertLayer { .. } => self.composite_tensors(false),
            Layer::BertEmbeddings {
                vocab,
                positions,
                width,
                ..
            } => {
                let table =
                    |name: &str, rows| spec(name, vec![rows, width], width, Init::Normal(0.02));
                vec![
                    table("word_embeddings.weight", vocab),
                    table("position_embeddings.weight", positions),
                    table("token_type_embeddings.weight", BERT_TYPES),
                    spec("LayerNorm.weight", vec![width], width, Init::Fill(1.0)),
                    spec("LayerNorm.bias", vec![width], width, Init::Fill(0.0)),
                ]
            }
            _ => Vec::new(),
        }
    }

    /// The non-trainable tensors (running statistics), in the order they lie in the state
    /// vector (PyTorch's `state_dict` order).
    pub(crate) fn state_tensors(self) -> Vec<TensorSpec> {
        match self {
            Layer::BatchNorm { c, .. } => vec![
                spec("running_mean", vec![c], c, Init::Fill(0.0)),
                spec("running_var", vec![c], c, Init::Fill(1.0)),
                spec("num_batches_tracked", vec![], 1, Init::Fill(0.0)),
            ],
            Layer::Block { .. }
            | Layer::TvBlock { .. }
            | Layer::WideUnit { .. }
            | Layer::DenseBlock { .. } => self.composite_tensors(true),
            _ => Vec::new(),
        }
    }

    /// The input shape of each of the layer's BatchNorms, in the order of its state tensors.
    pub(crate) fn norm_shapes(self, input: Act) -> Vec<Act> {
        let out = || {
            self.output(input)
                .expect("checked when the model was built")
        };
        match self {
            Layer::BatchNorm { .. } => vec![input],
            Layer::Block { .. } => vec![out(), out()],
            Layer::WideUnit { .. } => vec![input, out()],
            Layer::DenseBlock { .. } => self.dense_norm_shapes(input),
            Layer::TvBlock { .. } => self.tv_norm_shapes(input),
            _ => Vec::new(),
        }
    }

    /// The buffers the layer keeps inside it beyond its output, by what they hold, with
    /// their values per example (a ViT block's attention probabilities, queries-keys-values
    /// and MLP activations): what the device's buffer limits must also allow.
    pub(crate) fn inner_buffers(self, input: Act) -> Vec<(&'static str, usize)> {
        match (self, input) {
            (
                Layer::VitBlock { heads, width } | Layer::BertLayer { heads, width, .. },
                Act::Seq(t, _),
            ) => vec![
                (
                    "the attention probabilities (heads × tokens × tokens)",
                    heads * t * t,
                ),
                (
                    "the queries, keys and values (tokens × 3·width)",
                    t * 3 * width,
                ),
                (
                    "the MLP's hidden activations (tokens × 4·width)",
                    t * 4 * width,
                ),
            ],
            _ => Vec::new(),
        }
    }

    /// The layers that run matrix products (linear layers and convolutions) inside this one,
    /// each with its input shape.
    pub(crate) fn product_layers(self, input: Act) -> Vec<(Layer, Act)> {
        match self {
            Layer::Linear { .. } | Layer::LinearRelu { .. } | Layer::Conv2d { .. } => {
                vec![(self, input)]
            }
            Layer::Block { .. }
            | Layer::TvBlock { .. }
            | Layer::WideUnit { .. }
            | Layer::DenseBlock { .. }
            | Layer::VitBlock { .. }
            | Layer::BertLayer { .. } => self.composite_products(input),
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
