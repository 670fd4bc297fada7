//! GELU forward and backward in the exact erf form (`gelu.wgsl`, after `erf.wgsl` and the elementwise prelude), PyTorch's
//! `nn.GELU()` and timm's ViT MLPs. The f64 references take erf from `libm`, which is
//! independent of the shader's f32 approximation.

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
    crate::wgsl!("kernels/gelu/erf.wgsl"),
    crate::wgsl!("kernels/elementwise.wgsl"),
    crate::wgsl!("kernels/gelu/gelu.wgsl")
);

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![elementwise::uniform_layout("gelu", SRC)]
}

/// Prepare y = x·Φ(x) over `n` elements.
pub fn prepare_forward(gpu: &Gpu, n: usize, x: View<'_>, y: View<'_>) -> Result<Dispatch> {
    let operands = [("x", x), ("y", y)];
    elementwise::prepare(gpu, ("gelu", SRC), "gelu_forward", n, &operands)
}

/// Prepare `dx = dy · (Φ(x) + x·φ(x))` over `n` elements, `x` being the forward's input.
pub fn prepare_backward(
    gpu: &Gpu,
    n: usize,
    dy: View<'_>,
    dx: View<'_>,
    x: View<'_>,
) -> Result<Dispatch> {
    let operands = [("dy", dy), ("dx", dx), ("x", x)];
    elementwise::prepare(gpu, ("gelu", SRC), "gelu_backward", n, &operands)
}

/// Φ(x), the standard normal CDF.
fn cdf(x: f64) -> f64 {
    0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2))
}

/// CPU f64 reference of the forward pass.
pub fn reference_forward<T: Copy + Into<f64>>(x: &[T]) -> Vec<f64> {
    x.iter().map(|&v| v.into() * cdf(v.into())).collect()
}

/// CPU f64 reference of the backward pass, `x` being the forward's input.
pub fn reference_backward<T: Copy + Into<f64>>(dy: &[T], x: &[T]) -> Vec<f64> {
    let density = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    dy.iter()
        .zip(x)
        .map(|(&d, &x)| {
            let x = x.into();
            d.into() * (cdf(x) + x * density(x))
        })
        .collect()
}
