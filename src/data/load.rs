//! Loading a data set from disk (or the embedded subset), recognising its format by the
//! directory's contents.

use super::dataset::Splits;
use super::folder::FolderOptions;
use super::{cifar, folder, idx};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Where Debian's `dataset-fashion-mnist` package puts the full dataset.
pub const DEFAULT_DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// How to read the data.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Every image resized to `image_size`×`image_size`; `None`: image folders' to
    /// `folder_size` (their images come in many sizes), IDX's and CIFAR's kept as they are.
    pub image_size: Option<usize>,
    /// The side image folders' images are resized to when `image_size` is `None`: 32, or what
    /// a run of an earlier build recorded as its `--image-size` (which resized image folders
    /// only).
    pub folder_size: usize,
    /// The number of classes, when not the format's own (10 for IDX and CIFAR-10, 100 for
    /// CIFAR-100, one per sub-folder for image folders); every label must be below it.
    pub classes: Option<usize>,
    /// Image folders: ImageNet's sizing rather than the square resize (`--augment imagenet`).
    pub imagenet: bool,
    /// Image folders: threads that decode a batch (`--workers`).
    pub workers: usize,
}

impl LoadOptions {
    /// Images at `image_size` (`None`: their own size; image folders' at 32), and the data's
    /// own classes; image folders square-resized, decoded on one thread per core.
    pub fn sized(image_size: Option<usize>) -> LoadOptions {
        LoadOptions {
            image_size,
            folder_size: 32,
            classes: None,
            imagenet: false,
            workers: default_workers(),
        }
    }
}

/// `--workers`' default: one decoding thread per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Which data to load.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The Fashion-MNIST subset compiled into the crate.
    Embedded,
    /// A directory: IDX files, CIFAR binary batches, or `train/` and `test/` image folders.
    Dir(PathBuf),
}

/// The most classes `--classes` may ask for: 2^20, far beyond any classification data set
/// sampa reads (ImageNet-21k has 21,841), and small enough that the class names and the last
/// layer are sized without a second thought.
pub const MAX_CLASSES: usize = 1 << 20;

/// Load `source`. A directory is recognised by its contents: IDX files (`train-images-idx3-ubyte`
/// and friends, gz or not), CIFAR-10 (`data_batch_1.bin` …, `test_batch.bin`), CIFAR-100
/// (`train.bin`, `test.bin`), or `train/` and `test/` folders with one sub-folder per class.
pub fn load(source: &Source, opts: LoadOptions) -> Result<Splits> {
    if let Some(n) = opts.classes.filter(|&n| n < 2) {
        return Err(Error::Invalid(format!(
            "--classes {n}: a classifier needs at least 2 classes"
        )));
    }
    // Checked before anything is sized by it (every class gets a name, and the model an
    // output per class).
    if let Some(n) = opts.classes.filter(|&n| n > MAX_CLASSES) {
        return Err(Error::Invalid(format!(
            "--classes {n}: at most {MAX_CLASSES} classes are supported (the model's last \
             layer holds a row of weights per class); give the number of classes the data has"
        )));
    }
    let splits = load_native(source, opts)?;
    match opts.image_size {
        Some(side) => super::resize::resize_splits(splits, side),
        None => Ok(splits),
    }
}

/// [`load`] at the images' own size (image folders' at `--image-size`, else 32).
fn load_native(source: &Source, opts: LoadOptions) -> Result<Splits> {
    let dir = match source {
        Source::Embedded => return with_classes(idx::embedded()?, opts.classes),
        Source::Dir(dir) => dir,
    };
    if !dir.is_dir() {
        return Err(Error::data(
            dir,
            format!(
                "no such data directory; pass --data DIR with IDX, CIFAR or image-folder data, \
                 install Fashion-MNIST with `apt-get install dataset-fashion-mnist` (it goes to \
                 {DEFAULT_DATA_DIR}), or use --data embedded"
            ),
        ));
    }
    if let Some(splits) = idx::load_dir(dir, opts.classes)? {
        return named(dir, splits);
    }
    if let Some(splits) = cifar::load_dir(dir, opts.classes)? {
        return named(dir, splits);
    }
    if dir.join("train").is_dir() && folder::test_dir(dir).is_some() {
        let splits = folder::load_dir(
            dir,
            FolderOptions {
                size: opts.image_size.unwrap_or(opts.folder_size),
                imagenet: opts.imagenet,
                workers: opts.workers,
            },
        )?;
        return with_classes(splits, opts.classes);
    }
    Err(Error::data(
        dir,
        "found no dataset here: expected IDX files (train-images-idx3-ubyte[.gz], \
         train-labels-idx1-ubyte[.gz], t10k-…), CIFAR binary batches (data_batch_1.bin … \
         test_batch.bin, or train.bin and test.bin), or train/ and test/ (or val/) folders \
         with one sub-folder per class",
    ))
}

/// `splits` with the class names of `dir/classes.txt` (one per line, in label order), when it
/// exists; it must name every class.
fn named(dir: &Path, mut splits: Splits) -> Result<Splits> {
    let path = dir.join("classes.txt");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(splits);
    };
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != splits.classes {
        return Err(Error::data(
            &path,
            format!(
                "names {} classes, but the data has {}; give one name per line for each class, \
                 in label order",
                names.len(),
                splits.classes
            ),
        ));
    }
    splits.class_names = names;
    Ok(splits)
}

/// `splits` with `classes` classes when given: more than the data's own is allowed (unused
/// outputs), fewer is an error, since some label would be out of range.
fn with_classes(mut splits: Splits, classes: Option<usize>) -> Result<Splits> {
    match classes {
        Some(n) if n < splits.classes => Err(Error::Invalid(format!(
            "--classes {n}: {} has {} classes; give at least that many, or leave --classes out",
            splits.description, splits.classes
        ))),
        Some(n) => {
            splits.classes = n;
            let more = super::dataset::numbered(n);
            splits
                .class_names
                .extend(more.into_iter().skip(splits.class_names.len()));
            Ok(splits)
        }
        None => Ok(splits),
    }
}
