//! A GLUE task's files tokenized into training and test splits: each example's sentence (or
//! pair) through the WordPiece tokenizer into `data::text` rows, its label as its class (or
//! STS-B's score as the bits of an f32, the regression target `kernels::mse` reads). The dev
//! split is the test split, as GLUE's results report it.

use super::glue::{Label, Task};
use super::tokenizer::WordPieces;
use crate::data::text::TextRows;
use crate::data::{Dataset, Splits};
use crate::error::Result;
use crate::kernels::mse;
use std::path::Path;

/// `task`'s `train.tsv` and dev file in `dir`, tokenized by `tok`.
pub fn load_task(task: Task, dir: &Path, tok: &WordPieces) -> Result<Splits> {
    let (train, dev) = task.load(dir)?;
    let split = |examples: Vec<super::glue::Example>| -> Result<Dataset> {
        let mut rows = TextRows::new(tok.max_len(), tok.vocab_size(), tok.pad_id());
        let mut labels = Vec::with_capacity(examples.len());
        for e in &examples {
            let enc = tok.encode(&e.a, e.b.as_deref())?;
            rows.push(&enc.ids[..enc.len], &enc.types[..enc.len])?;
            labels.push(label_value(e.label));
        }
        Ok(Dataset::text(rows, labels))
    };
    let (train, test) = (split(train)?, split(dev)?);
    let description = format!(
        "GLUE {} from {} ({} train, {} {}; WordPiece, {} ids, {} tokens)",
        task.name(),
        dir.display(),
        train.len(),
        test.len(),
        task.dev_file().trim_end_matches(".tsv"),
        tok.vocab_size(),
        tok.max_len()
    );
    // STS-B's one output is its score.
    let names = task.labels().unwrap_or(&["score"]);
    Ok(Splits {
        train,
        test,
        val: None,
        classes: task.outputs(),
        class_names: names.iter().map(|l| l.to_string()).collect(),
        description,
        natural_images: false,
    })
}

/// A label as a data set holds it: a class's index, or a score's f32 bits (the
/// regression targets of `kernels::mse`).
pub fn label_value(label: Label) -> u32 {
    match label {
        Label::Class(c) => c,
        Label::Score(s) => mse::target_bits(s),
    }
}

/// The label a data set's value `v` holds for `task` (the inverse of [`label_value`]).
pub fn label_of(task: Task, v: u32) -> Label {
    match task.labels() {
        Some(_) => Label::Class(v),
        None => Label::Score(mse::target_of(v)),
    }
}
