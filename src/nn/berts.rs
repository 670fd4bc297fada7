//! BERT encoders for sequence classification as Hugging Face's
//! `BertForSequenceClassification` builds them, with their tensor names and initialisation,
//! and the `--model` names that choose them. Native only, like the ResNets.

use super::layer::{Act, Init, Layer};
use super::model::Model;
use crate::error::{Error, Result};

/// The sizes of a BERT: `--model bert-LAYERS-WIDTH-HEADS`, or a preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BertSpec {
    /// Encoder layers (`num_hidden_layers`).
    pub layers: usize,
    /// Features per token (`hidden_size`); the intermediate layers are 4× as wide.
    pub width: usize,
    /// Attention heads (`num_attention_heads`).
    pub heads: usize,
}

const FORM: &str = "expected bert-LAYERS-WIDTH-HEADS (such as bert-2-64-4) or one of \
                    bert-tiny, bert-mini, bert-small, bert-medium, bert-base";

impl BertSpec {
    /// The spec `--model kind` names: the presets of Google's BERT miniatures (Turc et al.,
    /// 2019) `bert-tiny` (2-128-2), `bert-mini` (4-256-4), `bert-small` (4-512-8),
    /// `bert-medium` (8-512-8), and `bert-base` (12-768-12), or `bert-L-H-A`.
    pub fn named(kind: &str) -> Result<BertSpec> {
        let spec = |layers, width, heads| BertSpec {
            layers,
            width,
            heads,
        };
        let parsed = match kind {
            "bert-tiny" => spec(2, 128, 2),
            "bert-mini" => spec(4, 256, 4),
            "bert-small" => spec(4, 512, 8),
            "bert-medium" => spec(8, 512, 8),
            "bert-base" => spec(12, 768, 12),
            _ => {
                let num = |s: &str| s.parse::<usize>().ok();
                let parts: Vec<&str> = kind.split('-').collect();
                match parts[..] {
                    ["bert", l, w, h] => match (num(l), num(w), num(h)) {
                        (Some(l), Some(w), Some(h)) => spec(l, w, h),
                        _ => return Err(bad(kind)),
                    },
                    _ => return Err(bad(kind)),
                }
            }
        };
        parsed.check(kind)?;
        Ok(parsed)
    }

    fn check(self, kind: &str) -> Result<()> {
        if self.layers == 0 || self.width == 0 || self.heads == 0 {
            return Err(Error::Invalid(format!(
                "--model {kind}: layers, width and heads must be positive"
            )));
        }
        super::vits::heads_divide(kind, self.width, self.heads)
    }
}

fn bad(kind: &str) -> Error {
    Error::Invalid(format!("--model {kind}: {FORM}"))
}

/// Rows of the position table without an `--init` file: `max_position_embeddings` of
/// Hugging Face's BERT checkpoints.
pub const POSITIONS: usize = 512;

/// The rows of a BERT's word and position tables. An `--init` file fixes them (as Hugging
/// Face's `config.json` gives `vocab_size` and `max_position_embeddings`); without one they
/// are the tokenizer's vocabulary and [`POSITIONS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tables {
    /// Rows of the word table: at least the tokenizer's ids.
    pub words: usize,
    /// Rows of the position table: at least the tokens per example.
    pub positions: usize,
}

/// What a BERT reads: the tokenizer's vocabulary, the position table's rows, the tokens per
/// example (`--max-len`) and the `[PAD]` id, whose word embedding starts at zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextInput {
    /// Rows of the word table.
    pub vocab: usize,
    /// Rows of the position table (512 for Hugging Face's checkpoints).
    pub positions: usize,
    /// Tokens per example.
    pub tokens: usize,
    /// `[PAD]`'s id.
    pub pad: usize,
}

impl Model {
    /// The BERT `spec` classifying texts of `input` into `classes` classes, as Hugging Face's
    /// `BertForSequenceClassification`: `bert.embeddings`, `bert.encoder.layer.{i}`, the
    /// pooler (`bert.pooler.dense` and tanh on the `[CLS]` token) and the `classifier`.
    /// Initialisation as Hugging Face's `_init_weights`: linear and embedding weights normal
    /// (std 0.02), the `[PAD]` row of the word embeddings zero, biases 0, LayerNorms 1 and 0.
    /// Without dropout: [`Model::with_dropout`] sets its rate where Hugging Face drops.
    pub fn bert(spec: BertSpec, input: TextInput, classes: usize) -> Result<Model> {
        let BertSpec {
            layers,
            width: w,
            heads,
        } = spec;
        let kind = format!("bert-{layers}-{w}-{heads}");
        spec.check(&kind)?;
        let TextInput {
            vocab,
            positions,
            tokens,
            pad,
        } = input;
        if classes == 0 || vocab == 0 || pad >= vocab {
            return Err(Error::Invalid(format!(
                "--model {kind} needs outputs (1 for a regression) and a vocabulary holding \
                 [PAD], got {classes} classes, {vocab} ids and [PAD] = {pad}"
            )));
        }
        if tokens == 0 || tokens > positions {
            return Err(Error::Invalid(format!(
                "--max-len {tokens}: the model has {positions} positions; use a --max-len \
                 from 1 to {positions}"
            )));
        }
        let named = |s: &str| Some(s.to_string());
        let mut list = vec![(
            Layer::BertEmbeddings {
                vocab,
                positions,
                width: w,
                dropout: 0.0,
            },
            named("bert.embeddings"),
        )];
        for i in 0..layers {
            let layer = Layer::BertLayer {
                width: w,
                heads,
                dropout: 0.0,
            };
            list.push((layer, Some(format!("bert.encoder.layer.{i}"))));
        }
        let linear = |inp, out| Layer::Linear { inp, out };
        list.extend([
            (Layer::ClassToken, None),
            (linear(w, w), named("bert.pooler.dense")),
            (Layer::Tanh, None),
            (Layer::Dropout { rate: 0.0 }, None),
            (linear(w, classes), named("classifier")),
        ]);
        let mut model = Model::new(
            format!("{kind} {tokens} tokens→{classes}"),
            Act::Text(tokens),
            classes,
            list,
        )?;
        for t in &mut model.params {
            let norm = t.name.contains("LayerNorm");
            t.init = if t.name.ends_with("word_embeddings.weight") {
                Init::NormalZeroRow(0.02, pad)
            } else if norm && t.name.ends_with(".weight") {
                Init::Fill(1.0)
            } else if t.name.ends_with(".weight") {
                Init::Normal(0.02)
            } else {
                Init::Fill(0.0)
            };
        }
        Ok(model)
    }
}
