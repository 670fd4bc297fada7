//! IDX files (MNIST, Fashion-MNIST, KMNIST), gzip-compressed or not, and the embedded subset.

#[cfg(not(target_arch = "wasm32"))]
use super::dataset::read_file;
use super::dataset::{Dataset, ImageShape, Splits, check_labels};
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
/// The classes of the IDX data sets (MNIST, Fashion-MNIST, KMNIST), unless `--classes` says
/// otherwise.
pub const IDX_CLASSES: usize = 10;

#[cfg(not(target_arch = "wasm32"))]
const EMBEDDED: [&[u8]; 4] = [
    include_bytes!("../../assets/fashion-mnist-subset/train-images-idx3-ubyte.gz"),
    include_bytes!("../../assets/fashion-mnist-subset/train-labels-idx1-ubyte.gz"),
    include_bytes!("../../assets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz"),
    include_bytes!("../../assets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz"),
];

/// The Fashion-MNIST subset compiled into the crate (600 train and 100 test images per class).
#[cfg(not(target_arch = "wasm32"))]
pub fn embedded() -> Result<Splits> {
    from_gz("<embedded>", EMBEDDED, "embedded Fashion-MNIST subset")
}

/// Fashion-MNIST's class names, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The four gzipped IDX files of the Fashion-MNIST subset already in memory (train images,
/// train labels, test images, test labels: the browser fetches them), named in errors as
/// files under `origin`; `what` begins the description.
pub fn from_gz(origin: &str, files: [&[u8]; 4], what: &str) -> Result<Splits> {
    let name = |f: &str| PathBuf::from(format!("{origin}/{f}"));
    let split = |images: &[u8], labels: &[u8], prefix: &str| {
        let ip = name(&format!("{prefix}-images-idx3-ubyte.gz"));
        let lp = name(&format!("{prefix}-labels-idx1-ubyte.gz"));
        let labels = (lp.as_path(), gunzip(&lp, labels)?);
        dataset(
            (&ip, &gunzip(&ip, images)?),
            (labels.0, &labels.1),
            IDX_CLASSES,
        )
    };
    let train = split(files[0], files[1], "train")?;
    let test = split(files[2], files[3], "t10k")?;
    if train.shape != test.shape {
        return Err(Error::data(origin, "train and test images differ in size"));
    }
    Ok(Splits {
        val: None,
        classes: IDX_CLASSES,
        class_names: FASHION_MNIST_CLASSES.map(String::from).to_vec(),
        description: format!(
            "{what} ({} train, {} test images; the full set installs with `apt-get install \
             dataset-fashion-mnist`)",
            train.len(),
            test.len()
        ),
        train,
        test,
        natural_images: false,
    })
}

#[cfg(not(target_arch = "wasm32"))]
/// IDX data in `dir` with labels below `classes` (10 when `None`), or `None` when there is no
/// training image file.
pub fn load_dir(dir: &Path, classes: Option<usize>) -> Result<Option<Splits>> {
    let classes = classes.unwrap_or(IDX_CLASSES);
    let Some(train_images) = find(dir, "train", "images-idx3") else {
        return Ok(None);
    };
    let need = |split: &str, kind: &str| {
        find(dir, split, kind).ok_or_else(|| {
            Error::data(
                dir,
                format!(
                    "has {} but no {split}-{kind}-ubyte[.gz]; IDX data needs all four files",
                    train_images.display()
                ),
            )
        })
    };
    let load = |images: &Path, labels: &Path| -> Result<Dataset> {
        parse_split(
            (images, &read_file(images)?),
            (labels, &read_file(labels)?),
            classes,
        )
    };
    let train = load(&train_images, &need("train", "labels-idx1")?)?;
    let test = load(&need("t10k", "images-idx3")?, &need("t10k", "labels-idx1")?)?;
    if train.shape != test.shape {
        return Err(Error::data(dir, "train and test images differ in size"));
    }
    Ok(Some(Splits {
        val: None,
        classes,
        class_names: super::dataset::numbered(classes),
        description: format!(
            "IDX data from {} ({} train, {} test images of {}×{})",
            dir.display(),
            train.len(),
            test.len(),
            train.shape.height,
            train.shape.width
        ),
        train,
        test,
        natural_images: false,
    }))
}

#[cfg(not(target_arch = "wasm32"))]
/// `split-kind-ubyte`, `split-kind-ubyte.gz` or the `split-kind.ubyte` spelling, if present.
fn find(dir: &Path, split: &str, kind: &str) -> Option<PathBuf> {
    let (what, idx) = kind.split_once('-').expect("kind is name-idxN");
    [
        format!("{split}-{kind}-ubyte"),
        format!("{split}-{what}.{idx}-ubyte"),
    ]
    .iter()
    .flat_map(|b| [b.clone(), format!("{b}.gz")])
    .map(|n| dir.join(n))
    .find(|p| p.is_file())
}

/// The most a gzipped IDX file may decompress to: the free host memory where it is known
/// (else 16 GiB), so that a small file that inflates without end (a "gzip bomb", or
/// corruption) is an error rather than an allocation that kills the process.
fn inflate_limit() -> u64 {
    crate::memory::available().unwrap_or(16 << 30)
}

/// The gunzipped bytes of `raw`. Inflation stops as soon as the output passes what the IDX
/// header at its start announces (or, where the header is unreadable, the free memory), so a
/// small file that inflates far beyond its header is refused without being held in memory.
fn gunzip(path: &Path, raw: &[u8]) -> Result<Vec<u8>> {
    let limit = inflate_limit();
    let mut d = flate2::read::MultiGzDecoder::new(raw);
    let bad = |e: std::io::Error| {
        Error::data(
            path,
            format!("is not a valid gzip file ({e}); re-download it"),
        )
    };
    // The header: the magic (0, 0, the element type, the number of dimensions), then each
    // dimension as a big-endian u32.
    let mut out = Vec::new();
    (&mut d).take(4).read_to_end(&mut out).map_err(bad)?;
    let mut total = None;
    if let [0, 0, kind, dims] = out[..] {
        let need = 4 * dims as u64;
        (&mut d).take(need).read_to_end(&mut out).map_err(bad)?;
        let size = match kind {
            0x08 | 0x09 => Some(1u64),
            0x0B => Some(2),
            0x0C | 0x0D => Some(4),
            0x0E => Some(8),
            _ => None,
        };
        if let (Some(size), true) = (size, out.len() as u64 == 4 + need) {
            let body = out[4..]
                .chunks(4)
                .map(|w| u32::from_be_bytes(w.try_into().expect("4 bytes")) as u64)
                .fold(size, |p, d| p.saturating_mul(d));
            total = Some(body.saturating_add(out.len() as u64));
        }
    }
    if let Some(t) = total.filter(|&t| t > limit) {
        return Err(Error::data(
            path,
            format!(
                "announces {t} bytes of data, more than the {:.1} GiB of free host memory; the \
                 file is corrupt, or free some memory",
                gib(limit)
            ),
        ));
    }
    let allowed = total.unwrap_or(limit);
    let rest = allowed.saturating_sub(out.len() as u64);
    d.take(rest.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(bad)?;
    if out.len() as u64 > allowed {
        let why = match total {
            Some(t) => format!("decompresses to more than the {t} bytes its header announces"),
            None => format!(
                "decompresses to more than the {:.1} GiB of free host memory",
                gib(limit)
            ),
        };
        return Err(Error::data(
            path,
            format!("{why}; the file is corrupt: re-download it"),
        ));
    }
    Ok(out)
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// One split from the bytes of its image and label files, raw or gzipped (told apart by the
/// gzip magic), named `images.0` and `labels.0` in errors, with labels below `classes`. The
/// entry point of the IDX reader for files read and for fuzzing.
pub fn parse_split(
    images: (&Path, &[u8]),
    labels: (&Path, &[u8]),
    classes: usize,
) -> Result<Dataset> {
    let (i, l) = (raw(images)?, raw(labels)?);
    dataset((images.0, &i), (labels.0, &l), classes)
}

/// A file's bytes, gunzipped when they start with the gzip magic.
fn raw<'a>((path, bytes): (&Path, &'a [u8])) -> Result<std::borrow::Cow<'a, [u8]>> {
    Ok(if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(path, bytes)?.into()
    } else {
        bytes.into()
    })
}

/// One split from its decompressed image and label files, which must hold as many images as
/// labels.
fn dataset(images: (&Path, &[u8]), labels: (&Path, &[u8]), classes: usize) -> Result<Dataset> {
    let (pixels, shape) = parse_images(images.0, images.1)?;
    let labels_v = parse_labels(labels.0, labels.1)?;
    check_labels(labels.0, &labels_v, classes, "this IDX data set")?;
    if pixels.len() / shape.len() != labels_v.len() {
        return Err(Error::data(
            labels.0,
            format!(
                "holds {} labels but {} holds {} images; use matching files",
                labels_v.len(),
                images.0.display(),
                pixels.len() / shape.len()
            ),
        ));
    }
    Dataset::new(images.0, pixels, labels_v, shape)
}

fn header(path: &Path, bytes: &[u8], magic: u32, dims: usize) -> Result<Vec<usize>> {
    let kind = if magic == IMAGES_MAGIC {
        "image"
    } else {
        "label"
    };
    let need = 4 + 4 * dims;
    if bytes.len() < need {
        return Err(Error::data(
            path,
            format!(
                "truncated: {} bytes is shorter than an IDX {kind} header",
                bytes.len()
            ),
        ));
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    if word(0) != magic {
        return Err(Error::data(
            path,
            format!(
                "wrong magic number 0x{:08x}: expected 0x{magic:08x} for an IDX {kind} file",
                word(0)
            ),
        ));
    }
    let dims: Vec<usize> = (1..=dims).map(|i| word(i) as usize).collect();
    // A product past usize cannot match the file's length; saturating keeps it a mismatch.
    let body: usize = dims.iter().fold(1usize, |p, &d| p.saturating_mul(d));
    if bytes.len() - need != body {
        return Err(Error::data(
            path,
            format!(
                "truncated or padded: the header promises {dims:?} = {body} bytes of data but the \
                 file holds {}; re-download it",
                bytes.len() - need
            ),
        ));
    }
    Ok(dims)
}

fn parse_images(path: &Path, bytes: &[u8]) -> Result<(Vec<u8>, ImageShape)> {
    let d = header(path, bytes, IMAGES_MAGIC, 3)?;
    if d[1] == 0 || d[2] == 0 {
        return Err(Error::data(
            path,
            format!(
                "its header gives images of {}×{} pixels; IDX images need a positive height and \
                 width, so the file is corrupt: re-download it",
                d[1], d[2]
            ),
        ));
    }
    let shape = ImageShape {
        channels: 1,
        height: d[1],
        width: d[2],
    };
    Ok((bytes[16..].to_vec(), shape))
}

fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u32>> {
    header(path, bytes, LABELS_MAGIC, 1)?;
    Ok(bytes[8..].iter().map(|&b| b as u32).collect())
}
