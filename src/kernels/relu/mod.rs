//! ReLU forward and backward (`relu.wgsl`, after the elementwise prelude).

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::elementwise;
use super::layout::UniformLayout;
use super::view::View;
use crate::error::Result;
use crate::gpu::Gpu;

const SRC: &str = concat!(
    crate::wgsl!("kernels/elementwise.wgsl"),
    crate::wgsl!("kernels/relu/relu.wgsl")
);

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![elementwise::uniform_layout("relu", SRC)]
}

/// Prepare y = max(x, 0) over `n` elements.
pub fn prepare_forward(gpu: &Gpu, n: usize, x: View<'_>, y: View<'_>) -> Result<Dispatch> {
    let operands = [("x", x), ("y", y)];
    elementwise::prepare(gpu, ("relu", SRC), "relu_forward", n, &operands)
}

/// Prepare `dx = dy · [y > 0]` over `n` elements, `y` being the forward output.
pub fn prepare_backward(
    gpu: &Gpu,
    n: usize,
    dy: View<'_>,
    dx: View<'_>,
    y: View<'_>,
) -> Result<Dispatch> {
    let operands = [("dy", dy), ("dx", dx), ("y", y)];
    elementwise::prepare(gpu, ("relu", SRC), "relu_backward", n, &operands)
}

/// CPU f64 reference of the forward pass.
pub fn reference_forward<T: Copy + Into<f64>>(x: &[T]) -> Vec<f64> {
    x.iter().map(|&v| v.into().max(0.0)).collect()
}

/// CPU f64 reference of the backward pass.
pub fn reference_backward<T: Copy + Into<f64>>(dy: &[T], y: &[T]) -> Vec<f64> {
    dy.iter()
        .zip(y)
        .map(|(&d, &y)| if y.into() > 0.0 { d.into() } else { 0.0 })
        .collect()
}
