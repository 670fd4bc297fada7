//! The settings and data of a run on a GLUE task (`--task`, `--tokenizer`, `--max-len`,
//! `--cased`): which flags go together, and the task's files tokenized into splits.

use super::config::{Augment, TrainConfig};
use crate::data::Splits;
use crate::error::{Error, Result};
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
    /// This description with the text settings of `config` (for a run on a task).
    pub(super) fn with_text(self, config: &TrainConfig, splits: &Splits) -> ModelInfo {
        let text = match (&config.task, &splits.train.text) {
            (Some(task), Some(rows)) => Some(TextInfo {
                task: task.clone(),
                vocab: rows.vocab,
                pad: rows.pad,
                cased: config.cased,
            }),
            _ => None,
        };
        ModelInfo { text, ..self }
    }
}
