//! A LayerNorm's sizes, and the buffers they need.

/// Rows per chunk of the parameter gradients' first pass.
pub(super) const CHUNK: usize = 64;

/// The shape: `rows` vectors of `c` features, normalised with `eps`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LnShape {
    /// Rows (every token of every example).
    pub rows: usize,
    /// Features per row.
    pub c: usize,
    /// Added to the variance.
    pub eps: f32,
}

impl LnShape {
    /// Elements of the statistics buffer: a mean and 1/σ per row.
    pub fn stats_len(self) -> usize {
        2 * self.rows
    }

    /// Elements of the parameter gradients' scratch buffer.
    pub fn part_len(self) -> usize {
        self.chunks() * 2 * self.c
    }

    pub(super) fn chunks(self) -> usize {
        self.rows.div_ceil(CHUNK)
    }
}
