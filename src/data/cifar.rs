//! CIFAR-10 and CIFAR-100 binary batches.
//!
//! CIFAR-10 records are 1 label byte + 3072 pixel bytes (32×32, channel-major), in
//! `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`. CIFAR-100 records are a coarse
//! and a fine label byte + 3072 pixel bytes, in `train.bin` and `test.bin`; the fine label is used.

use super::dataset::{Dataset, ImageShape, Splits, check_labels, read_file};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

const SHAPE: ImageShape = ImageShape {
    channels: 3,
    height: 32,
    width: 32,
};

/// CIFAR data in `dir` with labels below `classes` (10 for CIFAR-10 and 100 for CIFAR-100's
/// fine labels when `None`), or `None` when neither layout is present.
pub fn load_dir(dir: &Path, classes: Option<usize>) -> Result<Option<Splits>> {
    let (train_files, test_file, label_bytes, name) = if dir.join("data_batch_1.bin").is_file() {
        let train: Vec<PathBuf> = (1..=5)
            .map(|i| dir.join(format!("data_batch_{i}.bin")))
            .take_while(|p| p.is_file())
            .collect();
        (train, dir.join("test_batch.bin"), 1, "CIFAR-10")
    } else if dir.join("train.bin").is_file() {
        (
            vec![dir.join("train.bin")],
            dir.join("test.bin"),
            2,
            "CIFAR-100",
        )
    } else {
        return Ok(None);
    };
    let classes = classes.unwrap_or(if label_bytes == 1 { 10 } else { 100 });
    let format = (name, classes);
    if !test_file.is_file() {
        return Err(Error::data(
            &test_file,
            format!("missing: {name} needs its test file beside the training files"),
        ));
    }
    let mut train = read_records(&train_files[0], label_bytes, format)?;
    for f in &train_files[1..] {
        let more = read_records(f, label_bytes, format)?;
        train.images.extend(more.images);
        train.labels.extend(more.labels);
    }
    let test = read_records(&test_file, label_bytes, format)?;
    Ok(Some(Splits {
        val: None,
        class_names: names(dir, label_bytes, classes),
        classes,
        description: format!(
            "{name} from {} ({} train, {} test images)",
            dir.display(),
            train.len(),
            test.len()
        ),
        train,
        test,
        natural_images: true,
    }))
}

/// CIFAR-10's class names, in label order.
const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The class names: the data set's own names file (`batches.meta.txt` of CIFAR-10,
/// `fine_label_names.txt` of CIFAR-100) when it holds one per class, else CIFAR-10's known
/// names, else numbers.
fn names(dir: &Path, label_bytes: usize, classes: usize) -> Vec<String> {
    let file = if label_bytes == 1 {
        "batches.meta.txt"
    } else {
        "fine_label_names.txt"
    };
    let listed: Vec<String> = std::fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if listed.len() == classes {
        listed
    } else if label_bytes == 1 && classes == 10 {
        CIFAR10_CLASSES.map(String::from).to_vec()
    } else {
        super::dataset::numbered(classes)
    }
}

/// Parse one binary batch file with `label_bytes` label bytes per record (the last is used),
/// each label below the classes of `(format, classes)`.
pub fn read_records(
    path: &Path,
    label_bytes: usize,
    (format, classes): (&str, usize),
) -> Result<Dataset> {
    parse_records(path, &read_file(path)?, label_bytes, (format, classes))
}

/// [`read_records`] on the file's bytes, named `path` in errors (the entry point for fuzzing).
pub fn parse_records(
    path: &Path,
    bytes: &[u8],
    label_bytes: usize,
    (format, classes): (&str, usize),
) -> Result<Dataset> {
    let record = label_bytes + SHAPE.len();
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(Error::data(
            path,
            format!(
                "is {} bytes, not a whole number of {record}-byte records ({label_bytes} label \
                 byte(s) + 3072 pixels); the file is truncated or not a CIFAR binary batch",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / record;
    let mut images = Vec::with_capacity(n * SHAPE.len());
    let mut labels = Vec::with_capacity(n);
    for r in bytes.chunks_exact(record) {
        labels.push(r[label_bytes - 1] as u32);
        images.extend_from_slice(&r[label_bytes..]);
    }
    check_labels(path, &labels, classes, format)?;
    Dataset::new(path, images, labels, SHAPE)
}
