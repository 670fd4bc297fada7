//! Datasets: IDX (MNIST family), CIFAR binary batches, image folders, and the embedded
//! Fashion-MNIST subset, plus seeded batching with normalisation and augmentation.
//!
//! Every dataset is held as u8 pixels in channel-major (CHW) order per image; batches are
//! converted to f32 in [0, 1] (optionally normalised per channel) on the host, since that is
//! a few hundred kilobytes per step and keeps augmentation in one place.

mod batch;
mod cifar;
mod folder;
mod idx;

pub use batch::{Batch, BatchOptions, Batcher, channel_stats};

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Where Debian's `dataset-fashion-mnist` package puts the full dataset.
pub const DEFAULT_DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Image dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageShape {
    /// Channels (1 for grey, 3 for colour).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageShape {
    /// Pixels per image, all channels.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether an image has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Labelled images of one split.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// u8 pixels, `len() × shape.len()`, CHW per image.
    pub images: Vec<u8>,
    /// One class index per image.
    pub labels: Vec<u32>,
    /// The shape of each image.
    pub shape: ImageShape,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of example `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.shape.len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Keep only the first `n` examples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.images.truncate(n * self.shape.len());
        }
    }

    /// Build from parts, checking that they agree. `path` names the source in errors.
    pub fn new(path: &Path, images: Vec<u8>, labels: Vec<u32>, shape: ImageShape) -> Result<Self> {
        if shape.is_empty() {
            return Err(Error::data(path, "images have no pixels"));
        }
        if images.len() != labels.len() * shape.len() {
            return Err(Error::data(
                path,
                format!(
                    "{} labels but {} images of {}×{}×{}; the image and label files must \
                     describe the same examples",
                    labels.len(),
                    images.len() / shape.len(),
                    shape.channels,
                    shape.height,
                    shape.width
                ),
            ));
        }
        Ok(Dataset {
            images,
            labels,
            shape,
        })
    }
}

/// A training and a test split, with the number of classes and a description of the source.
#[derive(Clone, Debug)]
pub struct Splits {
    /// Training examples.
    pub train: Dataset,
    /// Test examples.
    pub test: Dataset,
    /// Number of classes (labels are `0..classes`).
    pub classes: usize,
    /// What was loaded, for the first line of output ("Fashion-MNIST from DIR (60000 train ...)").
    pub description: String,
    /// Whether this is colour data of the CIFAR kind, where crop-and-flip augmentation helps.
    pub natural_images: bool,
}

/// Which data to load.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The Fashion-MNIST subset compiled into the crate.
    Embedded,
    /// A directory: IDX files, CIFAR binary batches, or `train/` and `test/` image folders.
    Dir(PathBuf),
}

/// Options for image folders.
#[derive(Clone, Copy, Debug)]
pub struct FolderOptions {
    /// Images are resized to `size`×`size`.
    pub size: usize,
}

/// Load `source`. A directory is recognised by its contents: IDX files (`train-images-idx3-ubyte`
/// and friends, gz or not), CIFAR-10 (`data_batch_1.bin` …, `test_batch.bin`), CIFAR-100
/// (`train.bin`, `test.bin`), or `train/` and `test/` folders with one sub-folder per class.
pub fn load(source: &Source, folder: FolderOptions) -> Result<Splits> {
    let dir = match source {
        Source::Embedded => return idx::embedded(),
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
    if let Some(splits) = idx::load_dir(dir)? {
        return Ok(splits);
    }
    if let Some(splits) = cifar::load_dir(dir)? {
        return Ok(splits);
    }
    if dir.join("train").is_dir() && dir.join("test").is_dir() {
        return folder::load_dir(dir, folder);
    }
    Err(Error::data(
        dir,
        "found no dataset here: expected IDX files (train-images-idx3-ubyte[.gz], \
         train-labels-idx1-ubyte[.gz], t10k-…), CIFAR binary batches (data_batch_1.bin … \
         test_batch.bin, or train.bin and test.bin), or train/ and test/ folders with one \
         sub-folder per class",
    ))
}

/// The number of classes: one more than the largest label of either split.
fn class_count(train: &Dataset, test: &Dataset) -> usize {
    train
        .labels
        .iter()
        .chain(&test.labels)
        .max()
        .map_or(0, |&m| m as usize + 1)
}

/// Read a whole file, naming it in the error.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))
}
