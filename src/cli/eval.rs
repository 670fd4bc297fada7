//! `sampa eval`: a trained model file on a data set's test split. The model, its input shape,
//! its classes' names and its inputs' normalisation all come from the file's metadata, so the
//! model is fed exactly as in training; the output is the accuracy overall and per class
//! (and for a BERT on a GLUE task, the task's metric).

use anyhow::Context;
use sampa::data::{self, BatchOptions, Dataset, LoadOptions, Source};
use sampa::nn::Model;
use sampa::nn::model_info::{ModelInfo, TextInfo};
use sampa::run::checkpoint;
use sampa::text::dataset::load_task;
use sampa::text::glue::Task;
use sampa::text::tokenizer::WordPieces;
use sampa::train::{Trainer, TrainerSpec};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file (a run's model.safetensors, or the browser page's download).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Data whose test split to evaluate on (as `sampa train --data`).
    #[arg(long, default_value = "embedded")]
    data: String,
    /// Examples per batch.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Adapter: index, backend or name substring (see `sampa devices`); else SAMPA_ADAPTER.
    #[arg(long)]
    adapter: Option<String>,
    /// For a BERT trained on a GLUE task: the tokenizer it was trained with (tokenizer.json
    /// or vocab.txt); --data is then the task's folder, whose dev split is evaluated.
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    anyhow::ensure!(a.batch > 0, "--batch must be at least 1, got 0");
    let info = checkpoint::load_info(&a.model)?.with_context(|| {
        format!(
            "{}: has no sampa model metadata (it was written by another tool or an older \
             sampa), so its model is unknown; evaluate it with the `sampa train` flags that \
             built it and --init",
            a.model.display()
        )
    })?;
    let (test, model, task) = match &info.text {
        Some(text) => {
            let (test, model, task) = text_split(&a, &info, text)?;
            (test, model, Some(task))
        }
        None => {
            let test = test_split(&a.data, &info)?;
            let classes = info.class_names.len();
            let model = Model::for_images(&info.kind, &info.hidden, info.input, classes)?;
            (test, model, None)
        }
    };
    let params = checkpoint::load(&model, &a.model)?;
    let gpu = pollster::block_on(sampa::Gpu::open_flag_or_env(a.adapter.as_deref()))?;
    let spec = TrainerSpec {
        model: model.clone(),
        smoothing: 0.0,
        optimizer: Default::default(),
        seed: 0,
        kernels: sampa::tuning::choose(&gpu)?,
    };
    let mut trainer = Trainer::new(&gpu, spec, &params)?;
    trainer.set_model_state(checkpoint::load_state(&model, &a.model)?)?;
    let opts = BatchOptions {
        batch: a.batch,
        shuffle: false,
        seed: 0,
        normalize: info.normalization.clone(),
        augment: false,
        cutout: false,
        imagenet: false,
    };
    let (scores, glue) = match task {
        Some(task) => sampa::run::glue_scores(&gpu, &mut trainer, (&test, &opts), task)?,
        None => (
            sampa::run::evaluate(&gpu, &mut trainer, &test, &opts)?,
            Vec::new(),
        ),
    };
    // A regression has no accuracy, nor classes to break it down by.
    let mut parts = Vec::new();
    if !model.regression() {
        parts.push(format!("accuracy {:.2}%", 100.0 * scores.accuracy));
    }
    if let Some(t) = scores.top5 {
        parts.push(format!("top-5 {:.2}%", 100.0 * t));
    }
    parts.extend(glue.iter().map(|(n, v)| format!("{n} {v:.4}")));
    parts.push(format!("loss {:.4}", scores.loss));
    let what = if task.is_some() { "texts" } else { "images" };
    sampa::outln!(
        "{}: {} on {} test {what} of {} ({}): {}",
        a.model.display(),
        model.name,
        test.len(),
        a.data,
        gpu.adapter.short(),
        parts.join(", ")
    );
    if model.regression() {
        return Ok(());
    }
    for (c, name) in info.class_names.iter().enumerate() {
        if let Some(part) = of_class(&test, c) {
            let scores = sampa::run::evaluate(&gpu, &mut trainer, &part, &opts)?;
            sampa::outln!(
                "  {name:<20} {:>6.2}%  ({} {what})",
                100.0 * scores.accuracy,
                part.len()
            );
        }
    }
    Ok(())
}

/// A text model's test split (its task's dev file in `--data`, through `--tokenizer` as in
/// training), the model, and the task.
fn text_split(
    a: &Args,
    info: &ModelInfo,
    text: &TextInfo,
) -> anyhow::Result<(Dataset, Model, Task)> {
    let Some(path) = &a.tokenizer else {
        anyhow::bail!(
            "{} is a {} trained on GLUE {}: give --tokenizer FILE (the tokenizer it was \
             trained with) and --data (the task's folder)",
            a.model.display(),
            info.kind,
            text.task
        );
    };
    let task = Task::named(&text.task)?;
    let tok = WordPieces::load(path, text.cased, info.input.width)?;
    anyhow::ensure!(
        tok.vocab_size() == text.vocab && tok.pad_id() == text.pad,
        "--tokenizer {}: {} ids with [PAD] = {}, but the model was trained with {} ids and \
         [PAD] = {}; give the tokenizer it was trained with",
        path.display(),
        tok.vocab_size(),
        tok.pad_id(),
        text.vocab,
        text.pad
    );
    let splits = load_task(task, Path::new(&a.data), &tok)?;
    let model = Model::for_text_tables(&info.kind, &splits, Some(text.tables))?;
    Ok((splits.test, model, task))
}

/// The test split of `data`, which must have the model's input shape and classes.
fn test_split(data: &str, info: &ModelInfo) -> anyhow::Result<Dataset> {
    let source = match data {
        "embedded" => Source::Embedded,
        dir => Source::Dir(Path::new(dir).to_path_buf()),
    };
    let opts = LoadOptions {
        image_size: Some(info.input.height),
        folder_size: info.input.height,
        classes: Some(info.class_names.len()),
        imagenet: info.imagenet_sizing,
        workers: data::default_workers(),
    };
    let splits = data::load(&source, opts)?;
    anyhow::ensure!(
        splits.test.shape == info.input,
        "--data {data}: its images are {:?}, but the model takes {:?}; give the data it was \
         trained on",
        splits.test.shape,
        info.input
    );
    if splits.class_names != info.class_names {
        sampa::errln!(
            "warning: the model's classes are {}; the data's are {}",
            info.class_names.join(", "),
            splits.class_names.join(", ")
        );
    }
    Ok(splits.test)
}

/// The examples of class `c`, if there are any.
fn of_class(data: &Dataset, c: usize) -> Option<Dataset> {
    let keep: Vec<usize> = (0..data.len())
        .filter(|&i| data.labels[i] as usize == c)
        .collect();
    (!keep.is_empty()).then(|| data.select(&keep))
}
