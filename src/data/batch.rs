//! Seeded batching: per-epoch shuffles, f32 conversion, normalisation and augmentation.
//!
//! The order of epoch e is a Fisher-Yates shuffle from a generator seeded by (seed, e), so any
//! epoch's order can be rebuilt from the seed alone (resume needs that). Batches are
//! consecutive runs of that order; the last, partial batch is kept.

use super::dataset::Dataset;
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
}

/// One batch on the host.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// `len × image size` f32 pixels, CHW per image.
    pub pixels: Vec<f32>,
    /// Labels.
    pub labels: Vec<u32>,
}

impl Batch {
    /// Examples in the batch.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Per-channel mean and standard deviation of `data`'s pixels scaled to [0, 1].
pub fn channel_stats(data: &Dataset) -> Vec<(f32, f32)> {
    let s = data.shape;
    let plane = s.height * s.width;
    (0..s.channels)
        .map(|c| {
            let (mut sum, mut sq, mut n) = (0f64, 0f64, 0f64);
            for i in 0..data.len() {
                for &p in &data.image(i)[c * plane..(c + 1) * plane] {
                    let v = p as f64 / 255.0;
                    sum += v;
                    sq += v * v;
                    n += 1.0;
                }
            }
            let mean = sum / n;
            (
                mean as f32,
                ((sq / n - mean * mean).max(1e-12)).sqrt() as f32,
            )
        })
        .collect()
}

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
    /// allocations.
    pub fn next_into(&mut self, out: &mut Batch) -> bool {
        if self.pos >= self.order.len() {
            return false;
        }
        let end = (self.pos + self.opts.batch).min(self.order.len());
        let s = self.data.shape;
        let size = s.len();
        out.pixels.clear();
        out.labels.clear();
        out.pixels.resize((end - self.pos) * size, 0.0);
        for (slot, &i) in self.order[self.pos..end].iter().enumerate() {
            let dst = &mut out.pixels[slot * size..(slot + 1) * size];
            let src = self.data.image(i as usize);
            if self.opts.augment {
                let dy = self.aug.below(9) as isize - 4;
                let dx = self.aug.below(9) as isize - 4;
                let flip = self.aug.below(2) == 1;
                crop_flip(src, dst, s.channels, s.height, s.width, (dy, dx), flip);
            } else {
                for (d, &p) in dst.iter_mut().zip(src) {
                    *d = p as f32 / 255.0;
                }
            }
            if let Some(stats) = &self.opts.normalize {
                let plane = s.height * s.width;
                for (c, &(mean, std)) in stats.iter().enumerate() {
                    for v in &mut dst[c * plane..(c + 1) * plane] {
                        *v = (*v - mean) / std;
                    }
                }
            }
            out.labels.push(self.data.labels[i as usize]);
        }
        self.pos = end;
        true
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
