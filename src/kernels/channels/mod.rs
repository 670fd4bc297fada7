//! Windows of channels in pixel-major tensors (`[M, width]` rows of which a layer owns
//! channels `first..first + C`), and the copy between two windows (`channels.wgsl`). A
//! DenseNet block keeps its concatenation in one such tensor: each bottleneck reads a suffix
//! of its channels and its new channels are copied in front of them, so the block's
//! activations are written once, not copied again by every later bottleneck.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/channels/channels.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CopyParams {
    m: u32,
    c4: u32,
    ss4: u32,
    so4: u32,
    ds4: u32,
    do4: u32,
    _pad0: u32,
    _pad1: u32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![
        uniform_layout!(
            "channels",
            SRC,
            "Params",
            CopyParams {
                m,
                c4,
                ss4,
                so4,
                ds4,
                do4,
                _pad0,
                _pad1
            }
        )
        .replicated(),
    ]
}

/// Where a tensor's channels lie in a buffer's rows: each row holds `width` channels and the
/// tensor's are `first..first + C`. Both are multiples of 4 (the kernels read channel quads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Channels per row of the buffer.
    pub width: usize,
    /// The first of the tensor's channels.
    pub first: usize,
}

impl Window {
    /// A compact tensor of `c` channels: the whole row.
    pub fn whole(c: usize) -> Window {
        Window { width: c, first: 0 }
    }

    /// The window's row width and first channel in quads, checked to hold `c` channels.
    pub(crate) fn quads(self, op: &'static str, c: usize) -> Result<(u32, u32)> {
        if !self.width.is_multiple_of(4)
            || !self.first.is_multiple_of(4)
            || !c.is_multiple_of(4)
            || self.first + c > self.width
        {
            return Err(Error::shape(
                op,
                format!(
                    "channels {}..{} do not lie in rows of {} channels in 4s",
                    self.first,
                    self.first + c,
                    self.width
                ),
            ));
        }
        Ok((
            as_u32(op, "row", self.width / 4)?,
            as_u32(op, "first", self.first / 4)?,
        ))
    }

    /// Channel `ch` of row `r`, as an index into the buffer.
    pub fn at(self, r: usize, ch: usize) -> usize {
        r * self.width + self.first + ch
    }
}

/// Prepare the copy of `c` channels over `m` rows from `src`'s window to `dst`'s.
pub fn prepare_copy(
    gpu: &Gpu,
    (m, c): (usize, usize),
    (src, from): (View<'_>, Window),
    (dst, to): (View<'_>, Window),
) -> Result<Dispatch> {
    let op = "copy_window";
    let (ss4, so4) = from.quads(op, c)?;
    let (ds4, do4) = to.quads(op, c)?;
    let whole = |v: &View<'_>| v.offset == 0 && v.stride.is_multiple_of(4);
    if m == 0 || c == 0 || !whole(&src) || !whole(&dst) {
        return Err(Error::shape(
            op,
            format!("cannot copy {c} channels of {m} rows: whole vec4 buffers"),
        ));
    }
    src.expect_len(op, "src", m * from.width)?;
    dst.expect_len(op, "dst", m * to.width)?;
    let p = CopyParams {
        m: as_u32(op, "m", m)?,
        c4: as_u32(op, "c", c / 4)?,
        ss4,
        so4,
        ds4,
        do4,
        _pad0: 0,
        _pad1: 0,
    };
    build(
        gpu,
        Launch {
            label: "channels",
            source: SRC,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(op, &[src.rep(), dst.rep()])?),
            bindings: &[Bind::Buf(&src.buf.buffer), Bind::Buf(&dst.buf.buffer)],
            groups: grid_1d(gpu, as_u32(op, "groups", (m * c / 4).div_ceil(256))?),
        },
    )
}

/// The reference copy: `dst`'s window of `c` channels over `m` rows from `src`'s.
pub fn reference_copy<T: Copy>(
    (m, c): (usize, usize),
    (src, from): (&[T], Window),
    (dst, to): (&mut [T], Window),
) {
    for r in 0..m {
        for ch in 0..c {
            dst[to.at(r, ch)] = src[from.at(r, ch)];
        }
    }
}
