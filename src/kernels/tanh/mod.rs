//! tanh forward and backward (`tanh.wgsl`, after the elementwise prelude): the activation of
//! BERT's pooler. The f64 references use the standard library's `tanh`.

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
    crate::wgsl!("kernels/tanh/tanh.wgsl")
);

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![elementwise::uniform_layout("tanh", SRC)]
}

/// Prepare y = tanh(x) over `n` elements.
pub fn prepare_forward(gpu: &Gpu, n: usize, x: View<'_>, y: View<'_>) -> Result<Dispatch> {
    let operands = [("x", x), ("y", y)];
    elementwise::prepare(gpu, ("tanh", SRC), "tanh_forward", n, &operands)
}

/// Prepare `dx = dy · (1 − y²)` over `n` elements, `y` being the forward's output.
pub fn prepare_backward(
    gpu: &Gpu,
    n: usize,
    dy: View<'_>,
    dx: View<'_>,
    y: View<'_>,
) -> Result<Dispatch> {
    let operands = [("dy", dy), ("dx", dx), ("y", y)];
    elementwise::prepare(gpu, ("tanh", SRC), "tanh_backward", n, &operands)
}

/// CPU f64 reference of the forward pass.
pub fn reference_forward<T: Copy + Into<f64>>(x: &[T]) -> Vec<f64> {
    x.iter().map(|&v| v.into().tanh()).collect()
}

/// CPU f64 reference of the backward pass from the forward's input `x` (its output, squared,
/// is what the derivative needs).
pub fn reference_backward<T: Copy + Into<f64>>(dy: &[T], x: &[T]) -> Vec<f64> {
    dy.iter()
        .zip(x)
        .map(|(&d, &x)| d.into() * (1.0 - x.into().tanh().powi(2)))
        .collect()
}
