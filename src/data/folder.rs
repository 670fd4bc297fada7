//! Image folders: `DIR/train/<class>/*` and `DIR/test/<class>/*` (or `DIR/val/<class>/*`, as
//! ImageNet's), any format the `image` crate reads, converted to RGB and sized to a square of
//! the chosen side. Only the file lists are held: the images are decoded batch by batch
//! (`super::stream`).

use super::dataset::{Dataset, ImageShape, Splits};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Options for image folders.
#[derive(Clone, Copy, Debug)]
pub struct FolderOptions {
    /// Images are sized to `size`×`size`.
    pub size: usize,
    /// ImageNet's sizing (`--augment imagenet`): the short side resized and the centre cropped,
    /// random resized crops in training; else every image resized to the square.
    pub imagenet: bool,
    /// Threads that decode a batch.
    pub workers: usize,
}

/// The test split's folder: `test/`, else ImageNet's `val/`.
pub fn test_dir(dir: &Path) -> Option<PathBuf> {
    ["test", "val"]
        .into_iter()
        .map(|s| dir.join(s))
        .find(|d| d.is_dir())
}

/// Load both splits; class indices follow the sorted names of `train/`'s sub-folders.
pub fn load_dir(dir: &Path, opts: FolderOptions) -> Result<Splits> {
    if opts.size == 0 {
        return Err(Error::Invalid("--image-size must be positive".into()));
    }
    let classes = subdirs(&dir.join("train"))?;
    if classes.is_empty() {
        return Err(Error::data(
            dir.join("train"),
            "has no class sub-folders; put each class's images in its own folder",
        ));
    }
    let names: Vec<String> = classes.iter().map(|p| file_name(p)).collect();
    let test_dir = test_dir(dir).ok_or_else(|| {
        Error::data(
            dir,
            "has train/ but neither test/ nor val/; add the test images",
        )
    })?;
    let train = load_split(&dir.join("train"), &names, opts)?;
    let test = load_split(&test_dir, &names, opts)?;
    Ok(Splits {
        val: None,
        classes: names.len(),
        class_names: names.clone(),
        description: format!(
            "image folders from {} ({} classes: {}; {} train, {} test images at {s}×{s})",
            dir.display(),
            names.len(),
            names.join(", "),
            train.len(),
            test.len(),
            s = opts.size
        ),
        train,
        test,
        natural_images: true,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether a directory entry is clutter that file managers and version control leave behind
/// (`.DS_Store`, `._*`, `.git`, `Thumbs.db`, `desktop.ini`) rather than data: hidden names
/// (a leading dot) and Windows' two thumbnail and folder-setting files.
fn is_clutter(p: &Path) -> bool {
    let name = file_name(p);
    name.starts_with('.') || name == "Thumbs.db" || name == "desktop.ini"
}

/// The entries of `dir` that `keep` accepts and that are not clutter, sorted.
fn entries(dir: &Path, keep: fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::data(dir, format!("cannot list: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| keep(p) && !is_clutter(p))
        .collect();
    out.sort();
    Ok(out)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    entries(dir, Path::is_dir)
}

/// Every image file of `dir`'s class folders, with its class index.
fn list_split(dir: &Path, classes: &[String]) -> Result<Vec<(PathBuf, u32)>> {
    let mut files = Vec::new();
    for sub in subdirs(dir)? {
        let name = file_name(&sub);
        let Some(label) = classes.iter().position(|c| *c == name) else {
            return Err(Error::data(
                &sub,
                format!("is a class not present in train/ ({})", classes.join(", ")),
            ));
        };
        files.extend(
            entries(&sub, Path::is_file)?
                .into_iter()
                .map(|f| (f, label as u32)),
        );
    }
    Ok(files)
}

/// The split in `dir`: its file list, decoded batch by batch.
fn load_split(dir: &Path, classes: &[String], opts: FolderOptions) -> Result<Dataset> {
    let shape = ImageShape {
        channels: 3,
        height: opts.size,
        width: opts.size,
    };
    let files = list_split(dir, classes)?;
    if files.is_empty() {
        return Err(Error::data(dir, "holds no images"));
    }
    let (paths, labels): (Vec<PathBuf>, Vec<u32>) = files
        .into_iter()
        .map(|(f, label)| (super::stream::relative(dir, &f), label))
        .unzip();
    let files = super::stream::ImageFiles::new(
        dir.to_path_buf(),
        paths,
        (opts.size, opts.imagenet),
        opts.workers,
    );
    Ok(Dataset::streamed(files, labels, shape))
}
