//! What a model file says about its model besides the tensors, in the safetensors header's
//! metadata: the model (kind, widths, input shape), its classes' names, and the per-channel
//! normalisation and the sizing (ImageNet's centre crop) its inputs had in training, or for a
//! text model the task and tokenizer settings its inputs were made with. `sampa eval` rebuilds and feeds the model from
//! these alone; `--init` checks them against the run.

use super::berts::{POSITIONS, Tables};
use crate::data::ImageShape;
use std::collections::HashMap;

/// The `format` a model file's metadata names.
pub const FORMAT: &str = "sampa-model-1";

/// A model file's description of its model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The model kind (`mlp` or `cnn`).
    pub kind: String,
    /// The MLP's hidden widths (empty for the CNN).
    pub hidden: Vec<usize>,
    /// The input images' shape.
    pub input: ImageShape,
    /// One name per class, in label order.
    pub class_names: Vec<String>,
    /// Per-channel (mean, standard deviation) the inputs were normalised by, if they were.
    pub normalization: Option<Vec<(f32, f32)>>,
    /// Whether image folders were sized as ImageNet's evaluation sizes them (the short side
    /// resized, the centre cropped; `--augment imagenet`) rather than resized to the square.
    pub imagenet_sizing: bool,
    /// For a model of texts (a BERT), what its inputs were made with; the tokens per example
    /// are `input`'s width.
    pub text: Option<TextInfo>,
}

/// How a text model's inputs were made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextInfo {
    /// The GLUE task (`--task`).
    pub task: String,
    /// The tokenizer's ids.
    pub vocab: usize,
    /// `[PAD]`'s id.
    pub pad: u32,
    /// Whether case and accents were kept (`--cased`).
    pub cased: bool,
    /// The model's word and position tables (files written before they were recorded had
    /// the tokenizer's vocabulary and 512 positions).
    pub tables: Tables,
}

impl ModelInfo {
    /// The description of a model of `kind` (with the MLP's `hidden` widths) trained on
    /// `splits` in batches formed as `opts` says.
    pub fn of(
        kind: &str,
        hidden: &[usize],
        splits: &crate::data::Splits,
        opts: &crate::data::BatchOptions,
    ) -> ModelInfo {
        ModelInfo {
            kind: kind.to_string(),
            hidden: if kind == "mlp" {
                hidden.to_vec()
            } else {
                Vec::new()
            },
            input: splits.train.shape,
            class_names: splits.class_names.clone(),
            normalization: opts.normalize.clone(),
            imagenet_sizing: opts.imagenet,
            text: None,
        }
    }

    /// The metadata entries, with `name` (the model's full name, `mlp 784-256-10`).
    pub fn metadata(&self, name: &str) -> HashMap<String, String> {
        let s = self.input;
        let hidden: Vec<String> = self.hidden.iter().map(|h| h.to_string()).collect();
        let mut m: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            ("model", name.to_string()),
            ("kind", self.kind.clone()),
            ("hidden", hidden.join(",")),
            (
                "input_shape",
                format!("{},{},{}", s.channels, s.height, s.width),
            ),
            (
                "class_names",
                serde_json::to_string(&self.class_names).expect("strings"),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(n) = &self.normalization {
            let pairs: Vec<[f32; 2]> = n.iter().map(|&(m, s)| [m, s]).collect();
            m.insert(
                "normalization".into(),
                serde_json::to_string(&pairs).expect("numbers"),
            );
        }
        if self.imagenet_sizing {
            m.insert("sizing".into(), "imagenet".into());
        }
        if let Some(t) = &self.text {
            m.insert("task".into(), t.task.clone());
            m.insert("vocab".into(), t.vocab.to_string());
            m.insert("pad".into(), t.pad.to_string());
            m.insert("cased".into(), t.cased.to_string());
            m.insert("word_rows".into(), t.tables.words.to_string());
            m.insert("positions".into(), t.tables.positions.to_string());
        }
        m
    }

    /// Read back what [`ModelInfo::metadata`] wrote: `None` when the file has no sampa model
    /// metadata, an error naming the key when it is malformed.
    pub fn from_metadata(m: &HashMap<String, String>) -> Option<Result<ModelInfo, String>> {
        (m.get("format").map(String::as_str) == Some(FORMAT)).then(|| parse(m))
    }
}

fn parse(m: &HashMap<String, String>) -> Result<ModelInfo, String> {
    let get = |k: &str| m.get(k).ok_or_else(|| format!("no {k:?} in its metadata"));
    let bad = |k: &str| format!("a malformed {k:?} in its metadata");
    let numbers = |k: &str, text: &str| -> Result<Vec<usize>, String> {
        text.split(',')
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().map_err(|_| bad(k)))
            .collect()
    };
    let shape = numbers("input_shape", get("input_shape")?)?;
    let [channels, height, width] = shape[..] else {
        return Err(bad("input_shape"));
    };
    let normalization = match m.get("normalization") {
        None => None,
        Some(t) => {
            let pairs: Vec<[f32; 2]> = serde_json::from_str(t).map_err(|_| bad("normalization"))?;
            Some(pairs.into_iter().map(|[a, b]| (a, b)).collect())
        }
    };
    Ok(ModelInfo {
        kind: get("kind")?.clone(),
        hidden: numbers("hidden", get("hidden")?)?,
        input: ImageShape {
            channels,
            height,
            width,
        },
        class_names: serde_json::from_str(get("class_names")?).map_err(|_| bad("class_names"))?,
        normalization,
        imagenet_sizing: match m.get("sizing").map(String::as_str) {
            None => false,
            Some("imagenet") => true,
            Some(_) => return Err(bad("sizing")),
        },
        text: match m.get("task") {
            None => None,
            Some(task) => {
                let num =
                    |k: &str| -> Result<usize, String> { get(k)?.parse().map_err(|_| bad(k)) };
                let vocab = num("vocab")?;
                // Absent from files written before the tables were recorded.
                let or = |k: &str, default| match m.contains_key(k) {
                    true => num(k),
                    false => Ok(default),
                };
                Some(TextInfo {
                    task: task.clone(),
                    vocab,
                    pad: u32::try_from(num("pad")?).map_err(|_| bad("pad"))?,
                    cased: get("cased")?.parse().map_err(|_| bad("cased"))?,
                    tables: Tables {
                        words: or("word_rows", vocab)?,
                        positions: or("positions", POSITIONS)?,
                    },
                })
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_bad_entries_are_named() {
        let info = ModelInfo {
            kind: "mlp".into(),
            hidden: vec![256, 128],
            input: ImageShape {
                channels: 3,
                height: 32,
                width: 32,
            },
            class_names: vec!["cat".into(), "dog, \"big\"".into()],
            normalization: Some(vec![(0.5, 0.25), (0.4, 0.2), (0.3, 0.1)]),
            imagenet_sizing: true,
            text: None,
        };
        let mut m = info.metadata("mlp 3072-256-128-2");
        assert_eq!(m["model"], "mlp 3072-256-128-2");
        assert_eq!(ModelInfo::from_metadata(&m), Some(Ok(info)));
        m.insert("input_shape".into(), "3,32".into());
        let err = ModelInfo::from_metadata(&m).unwrap().unwrap_err();
        assert_eq!(err, "a malformed \"input_shape\" in its metadata");
        m.insert("format".into(), "other".into());
        assert_eq!(ModelInfo::from_metadata(&m), None);
    }

    #[test]
    fn a_text_models_metadata_round_trips() {
        let info = ModelInfo {
            kind: "bert-2-64-4".into(),
            hidden: Vec::new(),
            input: ImageShape {
                channels: 3,
                height: 1,
                width: 128,
            },
            class_names: vec!["0".into(), "1".into()],
            normalization: None,
            imagenet_sizing: false,
            text: Some(TextInfo {
                task: "sst2".into(),
                vocab: 30522,
                pad: 0,
                cased: true,
                tables: Tables {
                    words: 30528,
                    positions: 256,
                },
            }),
        };
        let mut m = info.metadata("bert-2-64-4 128 tokens→2");
        assert_eq!(ModelInfo::from_metadata(&m), Some(Ok(info.clone())));
        // A file from before the tables were recorded: the vocabulary and 512 positions.
        let mut old = m.clone();
        old.remove("word_rows");
        old.remove("positions");
        let text = ModelInfo::from_metadata(&old)
            .unwrap()
            .unwrap()
            .text
            .unwrap();
        let tables = Tables {
            words: 30522,
            positions: 512,
        };
        assert_eq!(text.tables, tables);
        m.insert("vocab".into(), "many".into());
        let err = ModelInfo::from_metadata(&m).unwrap().unwrap_err();
        assert_eq!(err, "a malformed \"vocab\" in its metadata");
    }
}
