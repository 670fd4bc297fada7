//! Inverted dropout with a recomputable mask (`dropout.wgsl`): the Wide ResNet's `--dropout`
//! between a unit's second BatchNorm-ReLU and its second convolution. One kernel scales the
//! activations in the forward and their gradient in the backward; the mask is a hash of the
//! pass's key, the layer and the element, so it is never stored and a resumed run or another
//! schedule draws the same one.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/dropout/dropout.wgsl");

/// The uniform block (WGSL `Params`, followed by the replica strides).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DropoutParams {
    n: u32,
    threshold: u32,
    scale: f32,
    site: u32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![
        uniform_layout!(
            "dropout",
            SRC,
            "Params",
            DropoutParams {
                n,
                threshold,
                scale,
                site
            }
        )
        .replicated(),
    ]
}

/// The PCG output permutation the kernel hashes with.
fn pcg(v: u32) -> u32 {
    let state = v.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}

/// The dropout key of gradient pass `pass` (its index in the optimizer's program) at step
/// `step` (1-based) of a run seeded `seed`: every schedule, a resumed run and the `dual`
/// worker derive the same masks from what a checkpoint and the job already hold.
pub fn pass_key(seed: u64, step: usize, pass: usize) -> u32 {
    let s = pcg(seed as u32 ^ pcg((seed >> 32) as u32));
    pcg(pcg(s ^ step as u32) ^ pass as u32)
}

/// The dropout key of group `group` of a grouped step's pass whose key is `key`
/// (m-sharpness): each group draws masks of its own, and group 0 the pass's, so a step of one
/// group is the plain step.
pub fn group_key(key: u32, group: usize) -> u32 {
    match group {
        0 => key,
        g => pcg(key ^ pcg(g as u32)),
    }
}

/// The hash value below which an element is dropped: `rate`·2^32.
pub fn threshold(rate: f32) -> u32 {
    (rate as f64 * 4_294_967_296.0).min(u32::MAX as f64) as u32
}

/// Whether element `e` of layer `site` survives the pass with `key` at `rate`.
pub fn keep(key: u32, site: u32, e: usize, rate: f32) -> bool {
    pcg(pcg(key ^ pcg(site)) ^ pcg(e as u32)) >= threshold(rate)
}

/// The f64 reference: `x` with the dropped elements zeroed and the kept ones scaled by
/// 1 / (1 - rate).
pub fn reference(x: &[f64], key: u32, site: u32, rate: f32) -> Vec<f64> {
    let scale = 1.0 / (1.0 - rate as f64);
    x.iter()
        .enumerate()
        .map(|(e, &v)| {
            if keep(key, site, e, rate) {
                v * scale
            } else {
                0.0
            }
        })
        .collect()
}

/// Prepare the in-place dropout of the first `n` elements of each replica of `data` at `rate`
/// (in [0, 1)) for layer `site`, replica r hashing with `keys[r]`.
pub fn prepare(
    gpu: &Gpu,
    (n, rate, site): (usize, f32, u32),
    data: View<'_>,
    keys: View<'_, u32>,
) -> Result<Dispatch> {
    const OP: &str = "dropout";
    if n == 0 || !(0.0..1.0).contains(&rate) {
        return Err(Error::shape(
            OP,
            format!("needs elements and a rate in [0, 1), got {n} and {rate}"),
        ));
    }
    data.expect_len(OP, "data", n)?;
    keys.expect_len(OP, "keys", 1)?;
    let (d, k) = (data.rep(), keys.rep());
    if data.offset != 0 || keys.offset != 0 || d.1 % 4 != 0 {
        return Err(Error::shape(
            OP,
            "data and keys must start their buffers and data replicas lie on vec4s",
        ));
    }
    let p = DropoutParams {
        n: as_u32(OP, "n", n)?,
        threshold: threshold(rate),
        scale: (1.0 / (1.0 - rate as f64)) as f32,
        site,
    };
    build(
        gpu,
        Launch {
            label: "dropout",
            source: SRC,
            entry: OP,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(OP, &[d, k])?),
            bindings: &[Bind::Buf(&data.buf.buffer), Bind::Buf(&keys.buf.buffer)],
            groups: grid_1d(gpu, as_u32(OP, "groups", n.div_ceil(1024))?),
        },
    )
}
