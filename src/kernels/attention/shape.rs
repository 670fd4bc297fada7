//! The attention's sizes, and where each operand's elements lie for the batched products.

use super::bmm::{Dims, Strided};
use crate::error::{Error, Result};

/// The attention's sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnShape {
    /// Examples.
    pub batch: usize,
    /// Tokens per example.
    pub tokens: usize,
    /// Heads.
    pub heads: usize,
    /// Features per head.
    pub head_dim: usize,
}

impl AttnShape {
    /// Features per token, all heads together.
    pub fn width(self) -> usize {
        self.heads * self.head_dim
    }

    /// Elements of `qkv`.
    pub fn qkv_len(self) -> usize {
        self.batch * self.tokens * 3 * self.width()
    }

    /// Elements of `out`.
    pub fn out_len(self) -> usize {
        self.batch * self.tokens * self.width()
    }

    /// Elements of `probs` (and of the backward's scratch).
    pub fn probs_len(self) -> usize {
        self.batch * self.heads * self.tokens * self.tokens
    }

    /// head_dim^−½, as timm's `Attention.scale`.
    pub fn scale(self) -> f64 {
        (self.head_dim as f64).powf(-0.5)
    }

    pub(super) fn check(self, op: &'static str) -> Result<()> {
        if self.batch == 0 || self.tokens == 0 || self.heads == 0 || self.head_dim == 0 {
            return Err(Error::shape(
                op,
                format!("every size must be positive: {self:?}"),
            ));
        }
        Ok(())
    }

    /// Queries, keys or values (`part` 0, 1, 2) inside `qkv`, indexed (b, h, token, feature).
    pub(super) fn qkv(self, part: usize) -> Strided {
        let row = 3 * self.width();
        Strided::new(
            part * self.width(),
            [self.tokens * row, self.head_dim, row, 1],
        )
    }

    /// `out`, indexed (b, h, token, feature).
    pub(super) fn out(self) -> Strided {
        let w = self.width();
        Strided::new(0, [self.tokens * w, self.head_dim, w, 1])
    }

    /// `probs`, indexed (b, h, query, key).
    pub(super) fn probs(self) -> Strided {
        let t = self.tokens;
        Strided::new(0, [self.heads * t * t, t * t, t, 1])
    }

    pub(super) fn dims(self, m: usize, n: usize, k: usize) -> Dims {
        Dims {
            m,
            n,
            k,
            batch: self.batch,
            heads: self.heads,
        }
    }
}
