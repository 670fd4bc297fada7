//! The normalised tensor's shape, where it lies in its buffers, and PyTorch's constants, which
//! the kernels' wrapper and the f64 reference share.

use crate::error::{Error, Result};
pub use crate::kernels::channels::Window;

/// PyTorch's default eps.
pub const EPS: f32 = 1e-5;
/// PyTorch's default momentum of the running statistics.
pub const MOMENTUM: f32 = 0.1;
/// Rows summed by one invocation before the per-channel sums over chunks.
pub(super) const CHUNK: usize = 128;

/// The normalised tensor: `m` rows (pixels of every example) of `c` channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnShape {
    /// Rows, N·H·W.
    pub m: usize,
    /// Channels (a multiple of 4: the kernels read channel quads).
    pub c: usize,
}

impl BnShape {
    pub(super) fn chunks(self) -> usize {
        self.m.div_ceil(CHUNK)
    }

    /// Values per replica of the partial sums' workspace.
    pub fn part_len(self) -> usize {
        2 * self.chunks() * self.c
    }

    /// Values per replica of the statistics: mean, invstd, var, Σdy, Σdy·x̂ (C each).
    pub fn stats_len(self) -> usize {
        5 * self.c
    }

    /// One row is allowed: evaluation normalises a batch of one 1×1 image with the running
    /// statistics. Training needs two (its variance of one value is 0, and the running
    /// update's m/(m − 1) divides by zero), which the trainer checks before a step
    /// (`Model::check_training_batch`).
    pub(super) fn check(self, op: &'static str) -> Result<()> {
        if self.m == 0 || self.c == 0 || !self.c.is_multiple_of(4) {
            return Err(Error::shape(
                op,
                format!(
                    "BatchNorm needs rows and channels in 4s, got {} rows of {} channels",
                    self.m, self.c
                ),
            ));
        }
        Ok(())
    }
}

/// How x and y lie in their buffers: compact `[M, C]` where no window is given (a dense
/// block's bottleneck normalises a suffix of the block's concatenation, and adds its input
/// gradient into the same channels). With `accumulate`, the backward adds dx into y instead of
/// writing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rows {
    /// x's window.
    pub x: Option<Window>,
    /// y's (or, in the backward, dx's) window.
    pub y: Option<Window>,
    /// Whether the backward adds dx into y.
    pub accumulate: bool,
}

impl Rows {
    /// Row width and first channel, in quads, of `w` (compact where `None`) for `s`.
    pub(super) fn quads(op: &'static str, s: BnShape, w: Option<Window>) -> Result<(u32, u32)> {
        w.unwrap_or(Window::whole(s.c)).quads(op, s.c)
    }

    /// Values of a buffer with `m` rows of window `w`.
    pub(super) fn len(s: BnShape, w: Option<Window>) -> usize {
        s.m * w.map_or(s.c, |w| w.width)
    }
}
