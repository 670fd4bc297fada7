//! Whether a model fits, checked before anything of its size is allocated: its parameters and
//! widest activation against the device's buffer limits, and the host copies of its state
//! against the free host memory. Both errors say what to make smaller.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::Model;

/// The host vectors of a model's length a trainer keeps: parameters, momentum, the gradient
/// read back for checks, and the carried vectors.
const HOST_VECTORS: u64 = 3;

/// The copies of the parameters and activations a schedule's buffers hold: 2 where SAMPa's
/// pair may run fused (`schedule` neither serial nor interleaved, and a program with a pair),
/// else 1.
pub fn copies(schedule: crate::train::Schedule, has_pair: bool) -> u64 {
    use crate::train::Schedule::{Interleaved, Serial};
    if has_pair && !matches!(schedule, Serial | Interleaved) {
        2
    } else {
        1
    }
}

/// Check `model` at batch `batch`: `copies` is 2 where SAMPa may run fused (its buffers hold
/// both parameter sets), and `carried` the vectors its optimizer carries between steps.
pub fn check_fits(
    gpu: &Gpu,
    model: &Model,
    batch: usize,
    copies: u64,
    carried: usize,
) -> Result<()> {
    let (b, name) = (batch as u64, &model.name);
    let widest = model.shapes().iter().map(|a| a.len()).max().unwrap_or(0) as u64;
    let n = model.param_count() as u64;
    let hint = "use smaller widths (--hidden), images (--image-size) or batches (--batch)";
    crate::memory::check(
        &format!("{name}'s parameters and optimizer state ({n} parameters)"),
        crate::memory::product(&[n, 4, HOST_VECTORS + carried as u64]),
        hint,
    )?;
    gpu.check_size(
        &format!("the largest activation of {name} at batch {b}"),
        copies * b * widest * 4,
    )?;
    check_inner(gpu, model, batch, copies)?;
    gpu.check_size(&format!("the parameters of {name}"), copies * n * 4)
}

/// The buffers inside layers (a ViT block's attention probabilities and MLP activations),
/// which scale with the batch like the activations: the largest against the device's limits,
/// the error naming it and the largest batch at which every such buffer fits.
fn check_inner(gpu: &Gpu, model: &Model, batch: usize, copies: u64) -> Result<()> {
    let shapes = model.shapes();
    let inner: Vec<(&str, u64)> = model
        .layers
        .iter()
        .zip(&shapes)
        .flat_map(|(l, &input)| l.inner_buffers(input))
        .map(|(what, per_example)| (what, copies * per_example as u64 * 4))
        .collect();
    let Some(&(what, per_example)) = inner.iter().max_by_key(|b| b.1) else {
        return Ok(());
    };
    let largest = gpu.largest_buffer() / per_example;
    gpu.check_size(
        &format!(
            "{what} of {} at batch {batch} (the largest batch that fits is {largest})",
            model.name
        ),
        batch as u64 * per_example,
    )
}
