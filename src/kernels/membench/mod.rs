//! Memory and launch microbenchmark kernels (`membench.wgsl`): a copy, an in-place
//! read-modify-write and an empty kernel, which `sampa bench` times for an adapter's bandwidth
//! and per-dispatch cost.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};

const SRC: &str = crate::wgsl!("kernels/membench/membench.wgsl");

/// The uniform block (WGSL `Params`).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MemParams {
    n: u32,
    _pad: [u32; 3],
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![uniform_layout!(
        "membench",
        SRC,
        "Params",
        MemParams { n, _pad }
    )]
}

fn launch(gpu: &Gpu, entry: &'static str, n: usize, bindings: &[Bind<'_>]) -> Result<Dispatch> {
    let p = MemParams {
        n: as_u32(entry, "n", n)?,
        _pad: [0; 3],
    };
    let groups = match entry {
        "noop" => [1, 1, 1],
        _ => grid_1d(gpu, as_u32(entry, "groups", n.div_ceil(1024))?),
    };
    build(
        gpu,
        Launch {
            label: "membench",
            source: SRC,
            entry,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: None,
            bindings,
            groups,
        },
    )
}

fn check(op: &'static str, n: usize, bufs: &[&GpuBuf<f32>]) -> Result<()> {
    if n == 0 || !n.is_multiple_of(4) {
        return Err(Error::shape(
            op,
            format!("n must be a positive multiple of 4, got {n}"),
        ));
    }
    if bufs.iter().any(|b| b.len < n) {
        return Err(Error::shape(op, format!("every buffer needs {n} elements")));
    }
    Ok(())
}

/// Prepare `dst[i] = src[i]` for the first `n` elements (`n` a multiple of 4).
pub fn prepare_copy(gpu: &Gpu, n: usize, src: &GpuBuf<f32>, dst: &GpuBuf<f32>) -> Result<Dispatch> {
    check("copy", n, &[src, dst])?;
    launch(
        gpu,
        "copy",
        n,
        &[Bind::Buf(&src.buffer), Bind::Buf(&dst.buffer)],
    )
}

/// Prepare `x[i] = 0.5·x[i] + 0.25` in place for the first `n` elements (`n` a multiple of 4).
pub fn prepare_rmw(gpu: &Gpu, n: usize, x: &GpuBuf<f32>) -> Result<Dispatch> {
    check("rmw", n, &[x])?;
    launch(gpu, "rmw", n, &[Bind::Unused, Bind::Buf(&x.buffer)])
}

/// Prepare one workgroup of a kernel that does nothing.
pub fn prepare_noop(gpu: &Gpu) -> Result<Dispatch> {
    launch(gpu, "noop", 0, &[])
}

/// CPU f64 reference of `reps` in-place read-modify-writes.
pub fn reference_rmw<T: Copy + Into<f64>>(x: &[T], reps: usize) -> Vec<f64> {
    x.iter()
        .map(|&v| (0..reps).fold(v.into(), |v, _| v * 0.5 + 0.25))
        .collect()
}
