//! Seeded batching: per-epoch shuffles, f32 conversion, normalisation and augmentation.
//!
//! The order of epoch e is a Fisher-Yates shuffle from a generator seeded by (seed, e), so any
//! epoch's order can be rebuilt from the seed alone (resume needs that). Batches are
//! consecutive runs of that order; the last, partial batch is kept.

use super::dataset::Dataset;
use crate::error::{Error, Result};
use crate::rng::Pcg;

/// How batches are formed.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchOptions {
    /// Examples per batch.
    pub batch: usize,
    /// Shuffle each epoch (else file order).
    pub shuffle: bool,
    /// Seed for shuffling and augmentation.
    pub seed: u64,
    /// Per-channel (mean, std) to normalise with, after scaling to [0, 1].
    pub normalize: Option<Vec<(f32, f32)>>,
    /// Random 4-pixel-padded crops and horizontal flips.
    pub augment: bool,
    /// Cutout: with probability 1/2, a 16×16 square (clipped at the border) set to 0 after
    /// normalisation, as the official SAMPa code does it.
    pub cutout: bool,
    /// ImageNet's training augmentation: torchvision's `RandomResizedCrop` and a horizontal
    /// flip, drawn per example and applied as a streamed image folder decodes it.
    pub imagenet: bool,
}

/// ImageNet's per-channel (mean, std), torchvision's `Normalize` for its ImageNet models.
pub const IMAGENET_STATS: [(f32, f32); 3] = [(0.485, 0.229), (0.456, 0.224), (0.406, 0.225)];

/// Cutout's square side.
pub const CUTOUT: usize = 16;

/// One batch on the host.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// `len × image size` f32 pixels, CHW per image.
    pub pixels: Vec<f32>,
    /// Labels.
    pub labels: Vec<u32>,
    /// How each example was drawn, when the batch came from a [`Batcher`] (empty otherwise):
    /// enough for another process holding the same data set to rebuild the batch
    /// ([`Batcher::rebuild`]), so that only this list need travel.
    pub drawn: Vec<Drawn>,
}

/// One example of a batch: its index in the data set and its augmentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drawn {
    /// The example's index in the data set.
    pub index: u32,
    /// The crop's shift (dy, dx), each in -4..=4 (0 without augmentation).
    pub shift: (i8, i8),
    /// Whether the image was mirrored.
    pub flip: bool,
    /// Cutout's square, by its top-left corner (row, column), each in -8..side-8, if one was
    /// cut.
    pub cutout: Option<(i16, i16)>,
    /// The seed of the example's random resized crop (ImageNet's augmentation; 0 for none),
    /// from which the decoder draws the crop for the image's own size.
    pub crop: u64,
}

impl Batch {
    /// The examples of shard `index` of `count` (a data-parallel replica's part): a
    /// contiguous run, the first `len % count` shards one example longer, so that shards
    /// differ by at most one example and together are the batch in order.
    pub fn shard(&self, index: usize, count: usize) -> Batch {
        let n = self.len();
        let (base, extra) = (n / count, n % count);
        let start = index * base + index.min(extra);
        let len = base + usize::from(index < extra);
        let size = self.pixels.len() / n.max(1);
        Batch {
            pixels: self.pixels[start * size..(start + len) * size].to_vec(),
            labels: self.labels[start..start + len].to_vec(),
            drawn: if self.drawn.is_empty() {
                Vec::new()
            } else {
                self.drawn[start..start + len].to_vec()
            },
        }
    }

    /// Examples in the batch.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Per-channel mean and standard deviation of `data`'s pixels scaled to [0, 1]: of every
/// image, or of 1,000 images of a streamed data set spread evenly over it
/// (decoding them all would take an epoch), the files that do not decode left out.
pub fn channel_stats(data: &Dataset) -> Vec<(f32, f32)> {
    let s = data.shape;
    let plane = s.height * s.width;
    let mut sums = vec![(0f64, 0f64, 0f64); s.channels];
    let mut add = |image: &[u8]| {
        for (c, (sum, sq, n)) in sums.iter_mut().enumerate() {
            for &p in &image[c * plane..(c + 1) * plane] {
                let v = p as f64 / 255.0;
                *sum += v;
                *sq += v * v;
                *n += 1.0;
            }
        }
    };
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(files) = &data.files {
        let n = data.len().min(STATS_SAMPLE);
        for k in 0..n {
            if let Ok(Some(image)) = files.image(k * data.len() / n, 0, false) {
                add(&image);
            }
        }
    }
    if !data.is_streamed() {
        for i in 0..data.len() {
            add(data.image(i));
        }
    }
    sums.into_iter()
        .map(|(sum, sq, n)| {
            let mean = sum / n;
            (
                mean as f32,
                ((sq / n - mean * mean).max(1e-12)).sqrt() as f32,
            )
        })
        .collect()
}

/// The images of a streamed data set that [`channel_stats`] reads.
#[cfg(not(target_arch = "wasm32"))]
const STATS_SAMPLE: usize = 1000;

/// Iterates over one epoch's batches.
pub struct Batcher<'a> {
    data: &'a Dataset,
    opts: BatchOptions,
    order: Vec<u32>,
    pos: usize,
    aug: Pcg,
}

impl<'a> Batcher<'a> {
    /// The batches of epoch `epoch` (0-based).
    pub fn new(data: &'a Dataset, opts: BatchOptions, epoch: u64) -> Self {
        let mut order: Vec<u32> = (0..data.len() as u32).collect();
        if opts.shuffle {
            Pcg::new(opts.seed, 2 * epoch + 1).shuffle(&mut order);
        }
        let aug = Pcg::new(opts.seed, 2 * epoch + 2);
        Batcher {
            data,
            opts,
            order,
            pos: 0,
            aug,
        }
    }

    /// Continue epoch `epoch` after `position` examples, the augmentation generator in state
    /// `augment` (both from [`Batcher::position`]).
    pub fn resume(
        data: &'a Dataset,
        opts: BatchOptions,
        epoch: u64,
        position: usize,
        augment: (u64, u64),
    ) -> Self {
        let mut b = Batcher::new(data, opts, epoch);
        b.pos = position.min(b.order.len());
        b.aug = Pcg::from_state(augment.0, augment.1);
        b
    }

    /// Examples handed out so far this epoch, and the augmentation generator's state.
    pub fn position(&self) -> (usize, (u64, u64)) {
        (self.pos, self.aug.state())
    }

    /// The epoch's order of example indices.
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// Number of batches in the epoch.
    pub fn batches(&self) -> usize {
        self.order.len().div_ceil(self.opts.batch)
    }

    /// Fill `out` with the next batch, or return false at the end of the epoch. Reuses `out`'s
    /// allocations. A streamed data set's batch leaves out files that do not decode; too many
    /// such files are an error.
    pub fn next_into(&mut self, out: &mut Batch) -> Result<bool> {
        if self.pos >= self.order.len() {
            return Ok(false);
        }
        let end = (self.pos + self.opts.batch).min(self.order.len());
        out.drawn.clear();
        for &index in &self.order[self.pos..end] {
            let mut d = Drawn {
                index,
                ..Drawn::default()
            };
            if self.opts.augment {
                let dy = self.aug.below(9) as i8 - 4;
                let dx = self.aug.below(9) as i8 - 4;
                d.shift = (dy, dx);
                d.flip = self.aug.below(2) == 1;
            }
            if self.opts.cutout && self.aug.below(2) == 1 {
                // torch.randint(-half, side - half): the square may hang over the border.
                let half = (CUTOUT / 2) as i16;
                let (h, w) = (self.data.shape.height, self.data.shape.width);
                let top = self.aug.below(h as u32) as i16 - half;
                let left = self.aug.below(w as u32) as i16 - half;
                d.cutout = Some((top, left));
            }
            if self.opts.imagenet {
                let seed = ((self.aug.next_u32() as u64) << 32) | self.aug.next_u32() as u64;
                d.crop = seed | 1;
                d.flip = self.aug.below(2) == 1;
            }
            out.drawn.push(d);
        }
        self.pos = end;
        fill(self.data, &self.opts, out)?;
        Ok(true)
    }

    /// The batch `drawn` describes, from `data` formed as `opts` says: the batch a
    /// [`Batcher`] over the same data and options handed out with that list. An index or
    /// shift outside the data set's range is an error, since the list may come from another
    /// process.
    pub fn rebuild(data: &Dataset, opts: &BatchOptions, drawn: Vec<Drawn>) -> Result<Batch> {
        let bad = |what: String| Error::Invalid(format!("a batch sent to this rank {what}"));
        for d in &drawn {
            if d.index as usize >= data.len() {
                return Err(bad(format!(
                    "names example {} of a data set of {}; every rank must load the same data",
                    d.index,
                    data.len()
                )));
            }
            if d.shift.0.abs() > 4 || d.shift.1.abs() > 4 {
                return Err(bad(format!(
                    "has a crop shift {:?} beyond 4 pixels",
                    d.shift
                )));
            }
            let half = (CUTOUT / 2) as i64;
            let inside = |v: i16, side: usize| (-half..side as i64 - half).contains(&(v as i64));
            if let Some((top, left)) = d.cutout
                && !(inside(top, data.shape.height) && inside(left, data.shape.width))
            {
                return Err(bad(format!(
                    "has a cutout square at {:?}, outside the images",
                    (top, left)
                )));
            }
        }
        let mut out = Batch {
            drawn,
            ..Batch::default()
        };
        fill(data, opts, &mut out)?;
        Ok(out)
    }
}

/// Fill `out`'s pixels and labels from its `drawn` list: each image (a streamed data set's
/// decoded now, sized and with ImageNet's crop and flip as drawn) cropped and flipped as
/// drawn (or only scaled to [0, 1]), then normalised. An example whose file did not decode
/// leaves the batch.
fn fill(data: &Dataset, opts: &BatchOptions, out: &mut Batch) -> Result<()> {
    let decoded = decode(data, &mut out.drawn)?;
    let s = data.shape;
    let size = s.len();
    out.pixels.clear();
    out.labels.clear();
    out.pixels.resize(out.drawn.len() * size, 0.0);
    for (slot, d) in out.drawn.iter().enumerate() {
        let dst = &mut out.pixels[slot * size..(slot + 1) * size];
        if let Some(text) = &data.text {
            text.row(d.index as usize, dst);
            out.labels.push(data.labels[d.index as usize]);
            continue;
        }
        let src = match &decoded {
            Some(images) => &images[slot][..],
            None => data.image(d.index as usize),
        };
        if opts.augment {
            let shift = (d.shift.0 as isize, d.shift.1 as isize);
            crop_flip(src, dst, s.channels, s.height, s.width, shift, d.flip);
        } else {
            for (v, &p) in dst.iter_mut().zip(src) {
                *v = p as f32 / 255.0;
            }
        }
        if let Some(stats) = &opts.normalize {
            let plane = s.height * s.width;
            for (c, &(mean, std)) in stats.iter().enumerate() {
                for v in &mut dst[c * plane..(c + 1) * plane] {
                    *v = (*v - mean) / std;
                }
            }
        }
        if let Some(corner) = d.cutout {
            cut(dst, (s.channels, s.height, s.width), corner);
        }
        out.labels.push(data.labels[d.index as usize]);
    }
    Ok(())
}

/// A streamed data set's images for `drawn`, decoded on its workers (`None` for a data set in
/// memory); the examples whose files did not decode leave `drawn`.
#[cfg(not(target_arch = "wasm32"))]
fn decode(data: &Dataset, drawn: &mut Vec<Drawn>) -> Result<Option<Vec<Vec<u8>>>> {
    let Some(files) = &data.files else {
        return Ok(None);
    };
    let indices: Vec<usize> = drawn.iter().map(|d| d.index as usize).collect();
    let crops: Vec<u64> = drawn.iter().map(|d| d.crop).collect();
    let flips: Vec<bool> = drawn.iter().map(|d| d.crop != 0 && d.flip).collect();
    let images = files.batch(&indices, (&crops, &flips))?;
    let mut kept = Vec::with_capacity(images.len());
    let mut slot = 0;
    drawn.retain(|_| {
        let ok = images[slot].is_some();
        slot += 1;
        ok
    });
    kept.extend(images.into_iter().flatten());
    Ok(Some(kept))
}

#[cfg(target_arch = "wasm32")]
fn decode(_: &Dataset, _: &mut Vec<Drawn>) -> Result<Option<Vec<Vec<u8>>>> {
    Ok(None)
}

/// Zero the [`CUTOUT`]-sided square at `(top, left)` (clipped to the image) in every channel.
fn cut(dst: &mut [f32], (channels, h, w): (usize, usize, usize), (top, left): (i16, i16)) {
    let span = |start: i16, side: usize| {
        let a = start.max(0) as usize;
        a.min(side)..(start as i64 + CUTOUT as i64).clamp(0, side as i64) as usize
    };
    let (rows, cols) = (span(top, h), span(left, w));
    for c in 0..channels {
        for y in rows.clone() {
            dst[(c * h + y) * w + cols.start..(c * h + y) * w + cols.end].fill(0.0);
        }
    }
}

/// Shift the image by (dy, dx) with zero fill (a random crop of the image padded by 4), then
/// optionally mirror it left to right; scales pixels to [0, 1].
fn crop_flip(
    src: &[u8],
    dst: &mut [f32],
    channels: usize,
    h: usize,
    w: usize,
    (dy, dx): (isize, isize),
    flip: bool,
) {
    for c in 0..channels {
        for y in 0..h {
            for x in 0..w {
                let sy = y as isize + dy;
                let sx0 = if flip {
                    (w - 1 - x) as isize
                } else {
                    x as isize
                };
                let sx = sx0 + dx;
                let v = if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
                    src[(c * h + sy as usize) * w + sx as usize] as f32 / 255.0
                } else {
                    0.0
                };
                dst[(c * h + y) * w + x] = v;
            }
        }
    }
}

/// Split `batch` into groups of `m` consecutive examples (the last may be shorter), into
/// `out` (reused from step to step).
pub fn split_groups(batch: &Batch, m: usize, out: &mut Vec<Batch>) {
    let n = batch.len();
    let per = batch.pixels.len() / n.max(1);
    out.resize_with(n.div_ceil(m), Batch::default);
    for (s, group) in out.iter_mut().enumerate() {
        let range = s * m..((s + 1) * m).min(n);
        group.pixels.clear();
        group
            .pixels
            .extend_from_slice(&batch.pixels[range.start * per..range.end * per]);
        group.labels.clear();
        group.labels.extend_from_slice(&batch.labels[range]);
        group.drawn.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_a_batch_in_order() {
        let batch = Batch {
            pixels: (0..14).map(|v| v as f32).collect(),
            labels: (0..7).collect(),
            drawn: Vec::new(),
        };
        let parts: Vec<Batch> = (0..3).map(|i| batch.shard(i, 3)).collect();
        let sizes: Vec<usize> = parts.iter().map(Batch::len).collect();
        assert_eq!(sizes, [3, 2, 2]);
        let labels: Vec<u32> = parts.iter().flat_map(|p| p.labels.clone()).collect();
        let pixels: Vec<f32> = parts.iter().flat_map(|p| p.pixels.clone()).collect();
        assert_eq!((labels, pixels), (batch.labels, batch.pixels));
    }
}
