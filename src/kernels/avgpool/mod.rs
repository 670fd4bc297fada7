//! Average pooling: global (`avgpool.wgsl`), each example's pixels averaged per channel, the
//! ResNets' last step before the classifier, any image size pooling to one feature per
//! channel; and over 2×2 windows with stride 2 (`window.wgsl`), a DenseNet transition's.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::maxpool::PoolShape;
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/avgpool/avgpool.wgsl");
const WINDOW_SRC: &str = crate::wgsl!("kernels/avgpool/window.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PoolParams {
    n: u32,
    hw: u32,
    c4: u32,
    _pad: u32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![
        uniform_layout!("avgpool", SRC, "Params", PoolParams { n, hw, c4, _pad }).replicated(),
        uniform_layout!(
            "avgpool window",
            WINDOW_SRC,
            "Params",
            WindowParams { n, h, w, c4 }
        )
        .replicated(),
    ]
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct WindowParams {
    n: u32,
    h: u32,
    w: u32,
    c4: u32,
}

/// `n` examples of `hw` pixels with `c` channels (a multiple of 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgShape {
    /// Batch.
    pub n: usize,
    /// Pixels per example.
    pub hw: usize,
    /// Channels.
    pub c: usize,
}

fn launch(
    gpu: &Gpu,
    op: &'static str,
    s: AvgShape,
    (src, dst): (View<'_>, View<'_>),
    count: usize,
) -> Result<Dispatch> {
    let whole = |v: &View<'_>| v.offset == 0 && v.stride.is_multiple_of(4);
    if s.n == 0 || s.hw == 0 || s.c == 0 || !s.c.is_multiple_of(4) || !whole(&src) || !whole(&dst) {
        return Err(Error::shape(
            op,
            format!("cannot pool {s:?}: channels in 4s, whole vec4 buffers"),
        ));
    }
    let p = PoolParams {
        n: as_u32(op, "n", s.n)?,
        hw: as_u32(op, "hw", s.hw)?,
        c4: as_u32(op, "c", s.c / 4)?,
        _pad: 0,
    };
    build(
        gpu,
        Launch {
            label: "avgpool",
            source: SRC,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(op, &[src.rep(), dst.rep()])?),
            bindings: &[Bind::Buf(&src.buf.buffer), Bind::Buf(&dst.buf.buffer)],
            groups: grid_1d(gpu, as_u32(op, "groups", count.div_ceil(4 * 256))?),
        },
    )
}

/// Prepare y[n, c] = mean over pixels of x[n, ·, c].
pub fn prepare_forward(gpu: &Gpu, s: AvgShape, x: View<'_>, y: View<'_>) -> Result<Dispatch> {
    x.expect_len("avgpool_forward", "x", s.n * s.hw * s.c)?;
    y.expect_len("avgpool_forward", "y", s.n * s.c)?;
    launch(gpu, "avgpool_forward", s, (x, y), s.n * s.c)
}

/// Prepare dx[n, i, c] = dy[n, c] / hw.
pub fn prepare_backward(gpu: &Gpu, s: AvgShape, dy: View<'_>, dx: View<'_>) -> Result<Dispatch> {
    dy.expect_len("avgpool_backward", "dy", s.n * s.c)?;
    dx.expect_len("avgpool_backward", "dx", s.n * s.hw * s.c)?;
    launch(gpu, "avgpool_backward", s, (dy, dx), s.n * s.hw * s.c)
}

/// f64 reference of the forward pass.
pub fn reference_forward<T: Copy + Into<f64>>(s: AvgShape, x: &[T]) -> Vec<f64> {
    let mut y = vec![0.0; s.n * s.c];
    for (i, &v) in x[..s.n * s.hw * s.c].iter().enumerate() {
        y[i / (s.hw * s.c) * s.c + i % s.c] += v.into() / s.hw as f64;
    }
    y
}

/// f64 reference of the backward pass.
pub fn reference_backward<T: Copy + Into<f64>>(s: AvgShape, dy: &[T]) -> Vec<f64> {
    (0..s.n * s.hw * s.c)
        .map(|i| dy[i / (s.hw * s.c) * s.c + i % s.c].into() / s.hw as f64)
        .collect()
}

/// Prepare one 2×2 pooling launch (`window_forward` or `window_backward`) over `count`
/// invocations.
fn launch_window(
    gpu: &Gpu,
    op: &'static str,
    s: PoolShape,
    (src, dst): (View<'_>, View<'_>),
    count: usize,
) -> Result<Dispatch> {
    let whole = |v: &View<'_>| v.offset == 0 && v.stride.is_multiple_of(4);
    if s.output_len() == 0 || !s.c.is_multiple_of(4) || !whole(&src) || !whole(&dst) {
        return Err(Error::shape(
            op,
            format!(
                "cannot pool {s:?} 2×2: images of 2×2 or more, channels in 4s, whole vec4 buffers"
            ),
        ));
    }
    let p = WindowParams {
        n: as_u32(op, "n", s.n)?,
        h: as_u32(op, "h", s.h)?,
        w: as_u32(op, "w", s.w)?,
        c4: as_u32(op, "c", s.c / 4)?,
    };
    build(
        gpu,
        Launch {
            label: "avgpool window",
            source: WINDOW_SRC,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(op, &[src.rep(), dst.rep()])?),
            bindings: &[Bind::Buf(&src.buf.buffer), Bind::Buf(&dst.buf.buffer)],
            groups: grid_1d(gpu, as_u32(op, "groups", count.div_ceil(4 * 256))?),
        },
    )
}

/// Prepare y = the mean of each 2×2 window of x (stride 2).
pub fn prepare_window_forward(
    gpu: &Gpu,
    s: PoolShape,
    x: View<'_>,
    y: View<'_>,
) -> Result<Dispatch> {
    x.expect_len("window_forward", "x", s.input_len())?;
    y.expect_len("window_forward", "y", s.output_len())?;
    launch_window(gpu, "window_forward", s, (x, y), s.output_len())
}

/// Prepare dx = a quarter of the output gradient of each input's window (0 outside them).
pub fn prepare_window_backward(
    gpu: &Gpu,
    s: PoolShape,
    dy: View<'_>,
    dx: View<'_>,
) -> Result<Dispatch> {
    dy.expect_len("window_backward", "dy", s.output_len())?;
    dx.expect_len("window_backward", "dx", s.input_len())?;
    launch_window(gpu, "window_backward", s, (dy, dx), s.input_len())
}

/// The output element of input element `i` of `s` (pixel-major), if a window holds it.
fn window_of(s: PoolShape, i: usize) -> Option<usize> {
    let (c, pix) = (i % s.c, i / s.c);
    let (x, y, n) = (pix % s.w, (pix / s.w) % s.h, pix / (s.w * s.h));
    let (ho, wo) = (s.h / 2, s.w / 2);
    (x / 2 < wo && y / 2 < ho).then(|| ((n * ho + y / 2) * wo + x / 2) * s.c + c)
}

/// f64 reference of the 2×2 forward.
pub fn reference_window_forward<T: Copy + Into<f64>>(s: PoolShape, x: &[T]) -> Vec<f64> {
    let mut y = vec![0.0; s.output_len()];
    for (i, &v) in x[..s.input_len()].iter().enumerate() {
        if let Some(o) = window_of(s, i) {
            y[o] += v.into() / 4.0;
        }
    }
    y
}

/// f64 reference of the 2×2 backward.
pub fn reference_window_backward<T: Copy + Into<f64>>(s: PoolShape, dy: &[T]) -> Vec<f64> {
    (0..s.input_len())
        .map(|i| window_of(s, i).map_or(0.0, |o| dy[o].into() / 4.0))
        .collect()
}
