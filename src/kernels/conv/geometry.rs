//! A convolution's geometry, as every convolution kernel takes it.

use crate::error::{Error, Result};

/// A convolution's geometry: `n` images of `cin`×`h`×`w` to `cout` channels by a `k`×`k`
/// kernel with `stride` and zero padding `pad` (PyTorch's `Conv2d`, output side
/// `(h + 2·pad − k) / stride + 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv {
    /// Images in the batch.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel side.
    pub k: usize,
    /// Stride (a power of two).
    pub stride: usize,
    /// Zero padding on each side.
    pub pad: usize,
}

impl Conv {
    /// Output height and width.
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.k) / self.stride + 1,
            (self.w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }

    /// Output pixels of the batch.
    pub fn out_pixels(&self) -> usize {
        let (ho, wo) = self.out_hw();
        self.n * ho * wo
    }

    /// Elements of the weight `[cout, cin, k, k]`.
    pub fn weight_len(&self) -> usize {
        self.cout * self.cin * self.k * self.k
    }

    /// Texels per input pixel (channels padded to a multiple of 4).
    pub fn cin4(&self) -> usize {
        self.cin.div_ceil(4)
    }

    /// Multiply-adds of the forward pass (each gradient has as many).
    pub fn flops(&self) -> f64 {
        2.0 * (self.out_pixels() * self.cout * self.cin * self.k * self.k) as f64
    }

    /// An error unless the geometry is one the kernels compute.
    pub fn check(&self, op: &'static str) -> Result<()> {
        let fits = self.h + 2 * self.pad >= self.k && self.w + 2 * self.pad >= self.k;
        if [self.n, self.cin, self.cout, self.k, self.stride].contains(&0) || !fits {
            return Err(Error::shape(op, format!("invalid convolution {self:?}")));
        }
        if self.pad >= self.k || !self.stride.is_power_of_two() {
            return Err(Error::shape(
                op,
                format!("padding below the kernel and a power-of-two stride needed: {self:?}"),
            ));
        }
        Ok(())
    }
}
