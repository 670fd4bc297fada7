//! Labelled images: one split, and a training and test pair.
//!
//! A dataset is held as u8 pixels in channel-major (CHW) order per image, or (image folders)
//! as its file list, whose images each batch decodes (`super::stream`); batches are converted
//! to f32 in [0, 1] (optionally normalised per channel) on the host, since that is a few
//! hundred kilobytes per step and keeps augmentation in one place.

use crate::error::{Error, Result};
use std::path::Path;

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
    /// u8 pixels, `len() × shape.len()`, CHW per image (empty when `files` holds them).
    pub images: Vec<u8>,
    /// One class index per image.
    pub labels: Vec<u32>,
    /// The shape of each image.
    pub shape: ImageShape,
    /// The files the images are decoded from batch by batch, for a streamed data set.
    #[cfg(not(target_arch = "wasm32"))]
    pub files: Option<std::sync::Arc<super::stream::ImageFiles>>,
    /// Tokenized text instead of images (GLUE's tasks): `shape` is then 3×1×tokens, the
    /// layout of one example's row (ids, token types, mask).
    pub text: Option<std::sync::Arc<super::text::TextRows>>,
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

    /// Pixels of example `i` of a data set in memory (a streamed one's are decoded a batch at
    /// a time, by `Batcher`).
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.shape.len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Keep only the first `n` examples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            #[cfg(not(target_arch = "wasm32"))]
            if let Some(files) = &self.files {
                let first: Vec<usize> = (0..n).collect();
                self.files = Some(std::sync::Arc::new(files.select(&first)));
            }
            if let Some(text) = &self.text {
                let first: Vec<usize> = (0..n).collect();
                self.text = Some(std::sync::Arc::new(text.select(&first)));
            }
            self.labels.truncate(n);
            self.images.truncate(n * self.shape.len());
        }
    }

    /// Whether the images are decoded from files batch by batch.
    pub fn is_streamed(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        return self.files.is_some();
        #[cfg(target_arch = "wasm32")]
        false
    }

    /// The examples `keep`, in that order.
    pub fn select(&self, keep: &[usize]) -> Dataset {
        let labels = keep.iter().map(|&i| self.labels[i]).collect();
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(files) = &self.files {
            return Dataset {
                images: Vec::new(),
                labels,
                shape: self.shape,
                files: Some(std::sync::Arc::new(files.select(keep))),
                text: None,
            };
        }
        if let Some(text) = &self.text {
            return Dataset::text(text.select(keep), labels);
        }
        Dataset {
            images: keep
                .iter()
                .flat_map(|&i| self.image(i).iter().copied())
                .collect(),
            labels,
            shape: self.shape,
            #[cfg(not(target_arch = "wasm32"))]
            files: None,
            text: None,
        }
    }

    /// A data set of tokenized texts with `labels`, one per example.
    pub fn text(rows: super::text::TextRows, labels: Vec<u32>) -> Self {
        assert_eq!(rows.len(), labels.len(), "one label per text");
        Dataset {
            images: Vec::new(),
            labels,
            shape: ImageShape {
                channels: 3,
                height: 1,
                width: rows.tokens,
            },
            #[cfg(not(target_arch = "wasm32"))]
            files: None,
            text: Some(std::sync::Arc::new(rows)),
        }
    }

    /// A data set of `files`' images (each `shape`) with `labels`, decoded batch by batch.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn streamed(files: super::stream::ImageFiles, labels: Vec<u32>, shape: ImageShape) -> Self {
        Dataset {
            images: Vec::new(),
            labels,
            shape,
            files: Some(std::sync::Arc::new(files)),
            text: None,
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
            #[cfg(not(target_arch = "wasm32"))]
            files: None,
            text: None,
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
    /// Validation examples held out of the training set (`--val-split`), if any.
    pub val: Option<Dataset>,
    /// Number of classes (labels are `0..classes`).
    pub classes: usize,
    /// One name per class: an image folder's sub-folder names, CIFAR's and Fashion-MNIST's
    /// own, the lines of a `classes.txt` beside the data, else the numbers `0..classes`.
    pub class_names: Vec<String>,
    /// What was loaded, for the first line of output ("Fashion-MNIST from DIR (60000 train ...)").
    pub description: String,
    /// Whether this is colour data of the CIFAR kind, where crop-and-flip augmentation helps.
    pub natural_images: bool,
}

/// The names `0`, `1`, ... of `n` classes that have no other names (the native readers').
#[cfg(not(target_arch = "wasm32"))]
pub fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

impl Splits {
    /// What identifies this data, for a checkpoint to compare on resume: each split's size
    /// and image shape, the class count, and a CRC-32 of every pixel and label (of a streamed
    /// split, of its files' relative paths and sizes). The same data moved to another
    /// directory gives the same fingerprint.
    pub fn fingerprint(&self) -> String {
        let mut h = crc32fast::Hasher::new();
        for d in [&self.train, &self.test] {
            #[cfg(not(target_arch = "wasm32"))]
            if let Some(files) = &d.files {
                files.fingerprint(&mut h);
            }
            if let Some(text) = &d.text {
                text.fingerprint(&mut h);
            }
            h.update(&d.images);
            h.update(bytemuck::cast_slice(&d.labels));
        }
        let s = self.train.shape;
        format!(
            "{} train, {} test, {}×{}×{}, {} classes, crc32 {:08x}",
            self.train.len(),
            self.test.len(),
            s.channels,
            s.height,
            s.width,
            self.classes,
            h.finalize()
        )
    }
}

/// Check that every label `file` gave is below `classes`, the count its format (or
/// `--classes`) sets, naming the first record that is not: a corrupt label byte must not
/// quietly become a model with hundreds of classes.
pub(crate) fn check_labels(
    file: &Path,
    labels: &[u32],
    classes: usize,
    format: &str,
) -> Result<()> {
    match labels.iter().position(|&l| l as usize >= classes) {
        None => Ok(()),
        Some(i) => Err(Error::data(
            file,
            format!(
                "record {i} (counting from 0) has label {}, but {format} has {classes} classes \
                 (labels 0 to {}); the file is corrupt, or for data with more classes pass \
                 --classes N",
                labels[i],
                classes.saturating_sub(1)
            ),
        )),
    }
}

/// Read a whole file, naming it in the error (for the native readers).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))
}
