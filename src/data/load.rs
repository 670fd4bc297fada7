//! Loading a data set from disk (or the embedded subset), recognising its format by the
//! directory's contents.

use super::dataset::Splits;
use super::folder::FolderOptions;
use super::{cifar, folder, idx};
use crate::error::{Error, Result};
use std::path::PathBuf;

/// Where Debian's `dataset-fashion-mnist` package puts the full dataset.
pub const DEFAULT_DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Which data to load.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The Fashion-MNIST subset compiled into the crate.
    Embedded,
    /// A directory: IDX files, CIFAR binary batches, or `train/` and `test/` image folders.
    Dir(PathBuf),
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
