//! Which elements of the parameter vector weight decay applies to (`--no-wd-1d` exempts some
//! tensors): a mask of one bit per element that the SGD and Adam kernels read beside x
//! (`decay.wgsl`), and that their f64 references take as it is. Without a mask every element
//! decays, and the kernels read nothing more.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};
use std::ops::Range;

/// One bit per element, set where weight decay applies: element i is bit i % 32 of word
/// i / 32 (the layout `decay.wgsl` reads). Bits past the last element are set and never read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecayMask {
    words: Vec<u32>,
}

impl DecayMask {
    /// Every one of `n` elements decays but those in the `exempt` ranges (which must lie
    /// inside `0..n`).
    pub fn except(n: usize, exempt: impl IntoIterator<Item = Range<usize>>) -> DecayMask {
        let mut words = vec![u32::MAX; n.div_ceil(32)];
        for range in exempt {
            assert!(
                range.end <= n,
                "exempt range {range:?} outside {n} elements"
            );
            for i in range {
                words[i / 32] &= !(1u32 << (i % 32));
            }
        }
        DecayMask { words }
    }

    /// Whether element `i` decays.
    pub fn applies(&self, i: usize) -> bool {
        self.words[i / 32] >> (i % 32) & 1 == 1
    }

    /// The words, as a kernel binds them.
    pub fn words(&self) -> &[u32] {
        &self.words
    }

    /// The mask on `gpu`, for the kernels to bind.
    pub fn upload(&self, gpu: &Gpu) -> Result<GpuBuf<u32>> {
        gpu.upload(&self.words, "weight decay mask")
    }
}

/// The buffer an optimizer kernel over `n` elements binds as its mask, and whether it reads
/// it: `mask`, which must hold ceil(n / 32) words, or without one a word it never reads.
pub(crate) fn binding(
    gpu: &Gpu,
    op: &'static str,
    n: usize,
    mask: Option<&GpuBuf<u32>>,
) -> Result<(GpuBuf<u32>, bool)> {
    match mask {
        Some(m) if m.len == n.div_ceil(32) => Ok((m.clone(), true)),
        Some(m) => Err(Error::shape(
            op,
            format!(
                "weight decay's mask over {n} elements needs {} words, got {}",
                n.div_ceil(32),
                m.len
            ),
        )),
        // A stand-in the kernel never reads, one per device.
        None => Ok((gpu.scratch(1, "no weight decay mask")?, false)),
    }
}

/// The weight decay of element `i` under `mask` (every element decays without one): `wd` or 0.
pub fn decay_at(mask: Option<&DecayMask>, i: usize, wd: f64) -> f64 {
    match mask {
        Some(m) if !m.applies(i) => 0.0,
        _ => wd,
    }
}

/// A mask over `n` elements exempting about half of them, drawn from `rng`: the optimizer
/// kernels' tests (which block on the device, so run natively).
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) fn random_mask(n: usize, rng: &mut crate::rng::Pcg) -> DecayMask {
    let exempt: Vec<usize> = (0..n).filter(|_| rng.below(2) == 0).collect();
    DecayMask::except(n, exempt.into_iter().map(|i| i..i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_follow_the_layout_the_kernels_read() {
        let m = DecayMask::except(70, [3..5, 31..33, 69..70]);
        let decays: Vec<usize> = (0..70).filter(|&i| !m.applies(i)).collect();
        assert_eq!(decays, [3, 4, 31, 32, 69]);
        // Word 0 lacks bits 3, 4 and 31; word 1 lacks bit 0; word 2 lacks bit 5 (element 69).
        assert_eq!(m.words(), [!0b11000 & 0x7fff_ffff, !1, !(1 << 5)]);
        assert_eq!(DecayMask::except(64, []).words(), [u32::MAX; 2]);
        assert_eq!(decay_at(Some(&m), 3, 0.5), 0.0);
        assert_eq!(decay_at(Some(&m), 5, 0.5), 0.5);
        assert_eq!(decay_at(None, 3, 0.5), 0.5);
    }
}
