//! sampa: Sharpness-Aware Minimization (SAM) and its parallel form SAMPa on any WebGPU adapter.
//!
//! The library is organised the way one training step flows (`docs/architecture.md` walks
//! through one): [`gpu`] finds and opens adapters; [`kernels`] holds the WGSL kernels, each
//! beside its Rust wrapper, CPU reference and tests; [`nn`] builds models from layer lists
//! and evaluates their gradients; [`optim`] writes each optimizer as a short program beside its
//! f64 reference; [`train`] records a program on a device and runs it step by step under a
//! schedule. Those build for the browser too. Natively, [`run`] adds data, run directories,
//! checkpoints and the epoch loop, and [`bench`](mod@bench) the benchmarks.
#![warn(missing_docs)]

/// A WGSL source under `src/`, by its path there: as written natively (the shader tests read
/// its prose), and without comments in the browser build (copies `build.rs` writes), where the
/// module's size is what the page downloads.
#[cfg(not(target_arch = "wasm32"))]
macro_rules! wgsl {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/", $path))
    };
}
#[cfg(target_arch = "wasm32")]
macro_rules! wgsl {
    ($path:literal) => {
        include_str!(concat!(env!("OUT_DIR"), "/wgsl/", $path))
    };
}
pub(crate) use wgsl;

pub mod bench;
pub mod clock;
pub mod data;
pub mod error;
pub mod gpu;
pub mod kernels;
pub mod memory;
#[cfg(all(feature = "mpi", not(target_arch = "wasm32")))]
pub mod mpi;
pub mod nn;
pub mod optim;
pub mod rng;
pub mod toy;
pub mod train;

#[cfg(not(target_arch = "wasm32"))]
pub mod cache_dir;
pub mod console;
#[cfg(not(target_arch = "wasm32"))]
pub mod fsutil;
#[cfg(not(target_arch = "wasm32"))]
pub mod run;
#[cfg(not(target_arch = "wasm32"))]
pub mod serve;
#[cfg(not(target_arch = "wasm32"))]
pub mod sweep;
#[cfg(not(target_arch = "wasm32"))]
pub mod timing;
#[cfg(not(target_arch = "wasm32"))]
pub mod tuning;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
pub use gpu::{AdapterSummary, Gpu, GpuBuf};
