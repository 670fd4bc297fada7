//! Image folders read as they are needed: only the file list is in memory, and each batch's
//! files are decoded when the batch is formed, on `workers` threads. The training loop forms
//! batch t + 1 while the device runs step t (steps are pipelined, see `train::step`), so
//! decoding keeps ahead of the device by one batch, and memory holds one batch's images
//! whatever the number of files.
//!
//! Two ways to size an image: the square resize of `--image-size` (every image resized to
//! S×S, as image folders always were), or ImageNet's recipe (`--augment imagenet`): for
//! training torchvision's `RandomResizedCrop(S)` (scale 0.08–1, aspect ratio 3/4–4/3, drawn as
//! its `get_params` draws them) and a horizontal flip, for evaluation the short side resized to
//! ⌊S·256/224⌋ and the centre S×S cropped (`Resize(256)`, `CenterCrop(224)` at S = 224).
//! Resizing is bilinear without antialiasing (PyTorch's `F.interpolate`), where torchvision's
//! PIL path antialiases when it shrinks.
//!
//! A file that does not decode is left out of its batch with a warning that names it (once);
//! when more than 1 % of a split's files have failed, the run stops with an error.

use super::resample::bilinear_u8;
use crate::error::{Error, Result};
use crate::rng::Pcg;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The files of one split and how their images are sized.
#[derive(Debug)]
pub struct ImageFiles {
    /// The split's folder; `paths` are relative to it.
    pub root: PathBuf,
    /// One file per example, in the data set's order.
    pub paths: Vec<PathBuf>,
    /// The side of every image the batches hold.
    pub side: usize,
    /// ImageNet's sizing (short side then centre crop; random resized crops in training)
    /// rather than the square resize.
    pub imagenet: bool,
    /// Threads that decode a batch.
    pub workers: usize,
    /// The examples whose files did not decode, each warned about once.
    failed: Mutex<BTreeSet<usize>>,
}

/// One example's decoding: its pixels, `None` for a file that did not decode, or the error
/// that stops the run.
type Decoded = Result<Option<Vec<u8>>>;

/// The share of a split's files that may fail to decode before the run stops: 1 in 100.
const FAILED_PER_HUNDRED: usize = 1;

impl ImageFiles {
    /// The files `paths` under `root`, sized as `side` and `imagenet` say, decoded on
    /// `workers` threads (at least one).
    pub fn new(
        root: PathBuf,
        paths: Vec<PathBuf>,
        (side, imagenet): (usize, bool),
        workers: usize,
    ) -> ImageFiles {
        ImageFiles {
            root,
            paths,
            side,
            imagenet,
            workers: workers.max(1),
            failed: Mutex::new(BTreeSet::new()),
        }
    }

    /// These files' examples `keep`, in that order (a validation split, a class).
    pub fn select(&self, keep: &[usize]) -> ImageFiles {
        let paths = keep.iter().map(|&i| self.paths[i].clone()).collect();
        ImageFiles::new(
            self.root.clone(),
            paths,
            (self.side, self.imagenet),
            self.workers,
        )
    }

    /// Example `i`'s pixels, 3×side×side channel-major: from a random resized crop drawn
    /// from `crop` (0: none, the evaluation sizing), mirrored when `flip`. `None` when the
    /// file did not decode (warned about the first time); an error when too many have failed.
    pub fn image(&self, i: usize, crop: u64, flip: bool) -> Result<Option<Vec<u8>>> {
        let path = self.root.join(&self.paths[i]);
        let s = self.side;
        let decoded = std::fs::read(&path)
            .map_err(|e| Error::data(&path, format!("cannot read: {e}")))
            .and_then(|bytes| match self.imagenet {
                false => super::decode::decode_image(&path, &bytes, s),
                true => super::decode::decode_rgb(&path, &bytes)
                    .map(|(planes, hw)| imagenet_sized(&planes, hw, s, crop)),
            });
        let mut out = match decoded {
            Ok(v) => v,
            Err(e) => return self.fail(i, e).map(|()| None),
        };
        if flip {
            for row in out.chunks_exact_mut(s) {
                row.reverse();
            }
        }
        Ok(Some(out))
    }

    /// Note that example `i` failed with `e`: a warning the first time, an error once more
    /// than 1 % of the files have failed.
    fn fail(&self, i: usize, e: Error) -> Result<()> {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if failed.insert(i) {
            crate::errln!("warning: {e}; left out of its batch");
        }
        if failed.len() * 100 > FAILED_PER_HUNDRED * self.paths.len() {
            return Err(Error::data(
                &self.root,
                format!(
                    "{} of its {} image files do not decode, more than {FAILED_PER_HUNDRED} %: \
                     the data is damaged or not images; fix or remove the files named above",
                    failed.len(),
                    self.paths.len()
                ),
            ));
        }
        Ok(())
    }

    /// The examples `indices`' images decoded on the workers, in order (see [`Self::image`]
    /// for `crops` and `flips`).
    pub fn batch(
        &self,
        indices: &[usize],
        (crops, flips): (&[u64], &[bool]),
    ) -> Result<Vec<Option<Vec<u8>>>> {
        // The batch is held decoded, and then as f32: check that both fit before the first.
        let side = self.side as u64;
        crate::memory::check(
            &format!("a batch of {} images at {side}×{side}×3", indices.len()),
            crate::memory::product(&[indices.len() as u64, 3, side, side, 5]),
            "use a smaller --batch or --image-size",
        )?;
        let workers = self.workers.min(indices.len()).max(1);
        let mut out: Vec<Decoded> = Vec::with_capacity(indices.len());
        out.resize_with(indices.len(), || Ok(None));
        // Worker k decodes slots k, k + workers, ...: the same images in the same slots
        // whatever the number of workers.
        std::thread::scope(|scope| {
            let mut slots: Vec<Vec<(usize, &mut Decoded)>> =
                (0..workers).map(|_| Vec::new()).collect();
            for (slot, r) in out.iter_mut().enumerate() {
                slots[slot % workers].push((slot, r));
            }
            for mine in slots {
                scope.spawn(move || {
                    for (slot, r) in mine {
                        *r = self.image(indices[slot], crops[slot], flips[slot]);
                    }
                });
            }
        });
        out.into_iter().collect()
    }

    /// A fingerprint of the list: the relative paths and the files' sizes (reading every
    /// image would take as long as an epoch).
    pub fn fingerprint(&self, h: &mut crc32fast::Hasher) {
        for p in &self.paths {
            h.update(p.to_string_lossy().as_bytes());
            let len = std::fs::metadata(self.root.join(p)).map_or(0, |m| m.len());
            h.update(&len.to_le_bytes());
        }
    }
}

/// ImageNet's sizing of 3 planes of `(h, w)` to `side`×`side`: a random resized crop drawn
/// from `crop`, or with `crop` 0 the evaluation's centre crop.
fn imagenet_sized(planes: &[u8], (h, w): (usize, usize), side: usize, crop: u64) -> Vec<u8> {
    match crop {
        0 => centre_crop(planes, (h, w), side),
        seed => {
            let (top, left, ch, cw) = resized_crop_box((h, w), seed);
            let window = crop_planes(planes, (h, w), (top, left, ch, cw));
            bilinear_u8(&window, 3, (ch, cw), (side, side))
        }
    }
}

/// torchvision's `RandomResizedCrop.get_params` for an image of `(h, w)` with scale
/// (0.08, 1) and ratio (3/4, 4/3), drawn from `seed`: (top, left, height, width) of the crop.
/// Ten tries at a random area and log-uniform aspect ratio, then the centre crop clipped to
/// the ratio range.
pub fn resized_crop_box((h, w): (usize, usize), seed: u64) -> (usize, usize, usize, usize) {
    let mut rng = Pcg::new(seed, 0xc409);
    // Uniform in [0, 1) with 53 bits, as Python's random.
    let mut unit = || {
        let bits = ((rng.next_u32() as u64) << 21) ^ (rng.next_u32() as u64 >> 11);
        bits as f64 / (1u64 << 53) as f64
    };
    let area = (h * w) as f64;
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let target = area * (0.08 + 0.92 * unit());
        let ratio = (lo + (hi - lo) * unit()).exp();
        let cw = (target * ratio).sqrt().round() as usize;
        let ch = (target / ratio).sqrt().round() as usize;
        if 0 < cw && cw <= w && 0 < ch && ch <= h {
            let top = rng.below((h - ch + 1) as u32) as usize;
            let left = rng.below((w - cw + 1) as u32) as usize;
            return (top, left, ch, cw);
        }
    }
    let ratio = w as f64 / h as f64;
    let (ch, cw) = if ratio < 3.0 / 4.0 {
        (((w as f64) / (3.0 / 4.0)).round() as usize, w)
    } else if ratio > 4.0 / 3.0 {
        (h, ((h as f64) * (4.0 / 3.0)).round() as usize)
    } else {
        (h, w)
    };
    ((h - ch) / 2, (w - cw) / 2, ch, cw)
}

/// The window `(top, left, height, width)` of 3 channel-major planes of `(h, w)`.
fn crop_planes(planes: &[u8], (h, w): (usize, usize), b: (usize, usize, usize, usize)) -> Vec<u8> {
    let (top, left, ch, cw) = b;
    let mut out = Vec::with_capacity(3 * ch * cw);
    for c in 0..3 {
        for y in top..top + ch {
            let row = (c * h + y) * w;
            out.extend_from_slice(&planes[row + left..row + left + cw]);
        }
    }
    out
}

/// ImageNet's evaluation sizing: the short side resized to ⌊side·256/224⌋ (the long side in
/// proportion, rounded down, as torchvision's `Resize(int)`), then the centre side×side
/// (torchvision's `CenterCrop`, its offsets rounded).
fn centre_crop(planes: &[u8], (h, w): (usize, usize), side: usize) -> Vec<u8> {
    let short = (side * 256 / 224).max(side);
    let (rh, rw) = if h <= w {
        (short, (short * w / h).max(side))
    } else {
        ((short * h / w).max(side), short)
    };
    let resized = bilinear_u8(planes, 3, (h, w), (rh, rw));
    let top = ((rh - side) as f64 / 2.0).round() as usize;
    let left = ((rw - side) as f64 / 2.0).round() as usize;
    crop_planes(&resized, (rh, rw), (top, left, side, side))
}

/// The relative path of `file` under `root`, for [`ImageFiles::paths`].
pub fn relative(root: &Path, file: &Path) -> PathBuf {
    file.strip_prefix(root).unwrap_or(file).to_path_buf()
}
