//! A GLUE task's files tokenized into training and test splits: each example's sentence (or
//! pair) through the WordPiece tokenizer into `data::text` rows, its label as its class. The
//! dev split is the test split, as GLUE's results report it.

use super::glue::{Label, Task};
use super::tokenizer::WordPieces;
use crate::data::text::TextRows;
use crate::data::{Dataset, Splits};
use crate::error::{Error, Result};
use std::path::Path;

/// `task`'s `train.tsv` and dev file in `dir`, tokenized by `tok`.
pub fn load_task(task: Task, dir: &Path, tok: &WordPieces) -> Result<Splits> {
    let Some(labels) = task.labels() else {
        return Err(Error::Invalid(format!(
            "--task {}: a regression (one score per pair), which needs a one-output head \
             trained with mean squared error; sampa's classifiers do not have it yet, so \
             choose a classification task",
            task.name()
        )));
    };
    let (train, dev) = task.load(dir)?;
    let split = |examples: Vec<super::glue::Example>| -> Result<Dataset> {
        let mut rows = TextRows::new(tok.max_len(), tok.vocab_size(), tok.pad_id());
        let mut classes = Vec::with_capacity(examples.len());
        for e in &examples {
            let enc = tok.encode(&e.a, e.b.as_deref())?;
            rows.push(&enc.ids[..enc.len], &enc.types[..enc.len])?;
            classes.push(match e.label {
                Label::Class(c) => c,
                Label::Score(_) => unreachable!("a classification task's labels are classes"),
            });
        }
        Ok(Dataset::text(rows, classes))
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
    Ok(Splits {
        train,
        test,
        val: None,
        classes: labels.len(),
        class_names: labels.iter().map(|l| l.to_string()).collect(),
        description,
        natural_images: false,
    })
}
