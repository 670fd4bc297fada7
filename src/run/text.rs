//! The settings and data of a run on a GLUE task (`--task`, `--tokenizer`, `--max-len`,
//! `--cased`): which flags go together, and the task's files tokenized into splits.

use super::checkpoint;
use super::config::{Augment, TrainConfig};
use crate::data::Splits;
use crate::error::{Error, Result};
use crate::nn::Model;
use crate::nn::berts::Tables;
use crate::nn::model_info::{ModelInfo, TextInfo};
use crate::text::glue::Task;
use crate::text::tokenizer::WordPieces;
use std::path::Path;

impl TrainConfig {
    /// The text flags' checks: a task needs a tokenizer and a BERT, a BERT needs a task, and
    /// the image settings do not apply to text.
    pub(super) fn validate_text(&self) -> Result<()> {
        let bert = self.model.starts_with("bert");
        let Some(name) = &self.task else {
            if bert {
                return Err(Error::Invalid(format!(
                    "--model {} reads text: give --task (a GLUE task such as sst2), --data (the \
                     task's folder of .tsv files) and --tokenizer (the checkpoint's \
                     tokenizer.json or vocab.txt)",
                    self.model
                )));
            }
            if self.tokenizer.is_some() || self.cased {
                let flag = if self.cased { "--cased" } else { "--tokenizer" };
                return Err(Error::Invalid(format!(
                    "{flag} applies to text: give --task and a BERT --model with it, or drop it"
                )));
            }
            return Ok(());
        };
        let task = Task::named(name)?;
        if !bert {
            return Err(Error::Invalid(format!(
                "--task {name} trains a text classifier: choose a BERT --model (bert-tiny, \
                 bert-base, or bert-LAYERS-WIDTH-HEADS such as bert-2-64-4), not {}",
                self.model
            )));
        }
        if self.tokenizer.is_none() {
            return Err(Error::Invalid(format!(
                "--task {} reads text through a tokenizer: give --tokenizer FILE (the \
                 checkpoint's tokenizer.json or vocab.txt)",
                task.name()
            )));
        }
        let image_flags = [
            ("--normalize", self.normalize),
            ("--cutout", self.cutout),
            ("--image-size", self.image_size.is_some()),
            ("--classes", self.classes.is_some()),
            (
                "--augment",
                matches!(self.augment, Some(Augment::Crop | Augment::ImageNet)),
            ),
        ];
        if let Some((flag, _)) = image_flags.iter().find(|(_, given)| *given) {
            return Err(Error::Invalid(format!(
                "{flag} applies to images, and --task {} reads text; drop it",
                task.name()
            )));
        }
        // A regression's targets are scores: nothing to smooth, flip or rank by accuracy.
        let class_flags = [
            ("--label-smoothing", self.label_smoothing != 0.0),
            ("--label-noise", self.label_noise != 0.0),
            ("--val-split", self.val_split.is_some()),
        ];
        if task.labels().is_none()
            && let Some((flag, _)) = class_flags.iter().find(|(_, given)| *given)
        {
            return Err(Error::Invalid(format!(
                "{flag} applies to classes, and --task {} is a regression (a score per \
                 pair, trained with mean squared error); drop it",
                task.name()
            )));
        }
        Ok(())
    }
}

/// The word and position tables of the BERT checkpoint at `path` (the first dimensions of
/// its `bert.embeddings.{word,position}_embeddings.weight`), read from its header.
pub(super) fn bert_tables(path: &Path) -> Result<Tables> {
    let shapes = checkpoint::header_shapes(path)?;
    let rows = |what: &str| -> Result<usize> {
        let name = format!("bert.embeddings.{what}_embeddings.weight");
        match shapes.get(&name).map(Vec::as_slice) {
            Some(&[rows, _]) => Ok(rows),
            Some(shape) => Err(Error::data(
                path,
                format!("tensor {name:?} is {shape:?}; a BERT's is [rows, width]"),
            )),
            None => Err(Error::data(
                path,
                format!(
                    "has no tensor {name:?}: a BERT's --init file holds Hugging Face's \
                     BertModel names (such as bert-base-uncased's model.safetensors)"
                ),
            )),
        }
    };
    Ok(Tables {
        words: rows("word")?,
        positions: rows("position")?,
    })
}

/// The splits of `--task` in `--data`, tokenized by `--tokenizer`; `None` for image data.
pub(super) fn load(c: &TrainConfig) -> Result<Option<Splits>> {
    let (Some(name), Some(tokenizer)) = (&c.task, &c.tokenizer) else {
        return Ok(None);
    };
    let task = Task::named(name)?;
    let tok = WordPieces::load(tokenizer, c.cased, c.max_len)?;
    crate::text::dataset::load_task(task, Path::new(&c.data), &tok).map(Some)
}

impl ModelInfo {
    /// This description with the text settings of `config` and the table sizes of `model`
    /// (for a run on a task).
    pub(super) fn with_text(
        self,
        config: &TrainConfig,
        splits: &Splits,
        model: &Model,
    ) -> ModelInfo {
        let rows = |name: &str| model.param(name).map_or(0, |p| p.shape[0]);
        let text = match (&config.task, &splits.train.text) {
            (Some(task), Some(text)) => Some(TextInfo {
                task: task.clone(),
                vocab: text.vocab,
                pad: text.pad,
                cased: config.cased,
                tables: Tables {
                    words: rows("bert.embeddings.word_embeddings.weight"),
                    positions: rows("bert.embeddings.position_embeddings.weight"),
                },
            }),
            _ => None,
        };
        ModelInfo { text, ..self }
    }
}
