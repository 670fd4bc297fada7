//! Image folders: `DIR/train/<class>/*` and `DIR/test/<class>/*`, any format the `image` crate
//! reads, converted to RGB and resized to a square of the chosen size.

use super::dataset::{Dataset, ImageShape, Splits};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Options for image folders.
#[derive(Clone, Copy, Debug)]
pub struct FolderOptions {
    /// Images are resized to `size`×`size`.
    pub size: usize,
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
    let train = load_split(&dir.join("train"), &names, opts)?;
    let test = load_split(&dir.join("test"), &names, opts)?;
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
    // Every image is held resized: check that they fit before decoding the first.
    let size = opts.size as u64;
    crate::memory::check(
        &format!(
            "the {} images of {} at {size}×{size}×3",
            files.len(),
            dir.display()
        ),
        crate::memory::product(&[files.len() as u64, 3, size, size]),
        "use a smaller --image-size",
    )?;
    let mut images = Vec::with_capacity(files.len() * shape.len());
    let mut labels = Vec::with_capacity(files.len());
    for (f, label) in files {
        let bytes = std::fs::read(&f).map_err(|e| Error::data(&f, format!("cannot read: {e}")))?;
        images.extend(decode_image(&f, &bytes, opts.size)?);
        labels.push(label);
    }
    Dataset::new(dir, images, labels, shape)
}

/// The largest image a folder may hold, in pixels a side and in bytes decoded: far beyond
/// any training image, and small enough that a corrupt header cannot claim gigabytes.
const MAX_SIDE: u32 = 16384;
const MAX_DECODED: u64 = 512 << 20;

/// One image file's bytes (any format the `image` crate reads, told by its content, not its
/// name) as RGB resized to `size`×`size` as PyTorch's `F.interpolate(mode="bilinear",
/// align_corners=False, antialias=False)` (rounded to 8 bits), channel-major; `path` names it
/// in errors.
pub fn decode_image(path: &Path, bytes: &[u8], size: usize) -> Result<Vec<u8>> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::data(
            path,
            format!("cannot be read as an image ({e}); remove it or convert it to PNG/JPEG"),
        )
    };
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED);
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(&e))?;
    reader.limits(limits);
    let img = reader.decode().map_err(|e| bad(&e))?;
    let side = u32::try_from(size)
        .map_err(|_| Error::Invalid(format!("--image-size {size} is too large")))?;
    let rgb = img.to_rgb8();
    // HWC (interleaved) to CHW, then resized plane by plane.
    let planes: Vec<u8> = (0..3)
        .flat_map(|c| rgb.pixels().map(move |p| p.0[c]))
        .collect();
    let from = (rgb.height() as usize, rgb.width() as usize);
    let to = (side as usize, side as usize);
    Ok(super::resample::bilinear_u8(&planes, 3, from, to))
}
