//! sampa: Sharpness-Aware Minimization (SAM) and its parallel form SAMPa on any WebGPU adapter.
//!
//! The library is organised the way one training step flows (see `docs` in the README):
//! [`gpu`] finds and opens adapters, [`kernels`] holds one Rust wrapper per WGSL kernel
//! together with its CPU reference.
#![warn(missing_docs)]

pub mod error;
pub mod gpu;
pub mod kernels;
pub mod nn;
pub mod rng;
pub mod toy;

#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
#[cfg(not(target_arch = "wasm32"))]
pub mod data;
#[cfg(not(target_arch = "wasm32"))]
pub mod fsutil;
#[cfg(not(target_arch = "wasm32"))]
pub mod serve;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;
#[cfg(not(target_arch = "wasm32"))]
pub mod tuning;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
pub use gpu::{AdapterSummary, Gpu, GpuBuf};
