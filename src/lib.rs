//! sampa: Sharpness-Aware Minimization (SAM) and its parallel form SAMPa on any WebGPU adapter.
//!
//! The library is organised the way one training step flows (the book's chapter
//! `docs/src/design/architecture.md` walks through one): [`gpu`] finds and opens adapters;
//! [`kernels`] holds the WGSL kernels, each beside its Rust wrapper, CPU reference and tests;
//! [`nn`] builds models from layer lists and evaluates their gradients; [`optim`] writes each
//! optimizer as a short program beside its f64 reference; [`train`] records a program on a
//! device and runs it step by step under a schedule. Those build for the browser too.
//! Natively, [`run`] adds data, run directories, checkpoints and the epoch loop (what `sampa
//! train` runs), and [`bench`](mod@bench) the benchmarks.
//!
//! # Training from Rust
//!
//! One epoch of SAMPa-0.2 on SGD with momentum, for the MLP on the Fashion-MNIST subset that
//! is compiled into the crate, then the test accuracy. `sampa train` does the same around
//! [`run`]'s epoch loop, with checkpoints, logs and the other schedules.
//!
//! ```
//! use sampa::data::{Batch, BatchOptions, Batcher};
//! use sampa::kernels::sgd::SgdHyper;
//! use sampa::nn::Model;
//! use sampa::optim::{OptimizerConfig, OptimizerKind};
//! use sampa::train::{Trainer, TrainerSpec};
//!
//! # // Natively: the browser build has no blocking waits and no tuning by measurement.
//! # #[cfg(not(target_arch = "wasm32"))]
//! # fn main() -> sampa::Result<()> {
//! // The best adapter (discrete, then integrated, then CPU), or SAMPA_ADAPTER's.
//! let gpu = pollster::block_on(sampa::Gpu::open_flag_or_env(None))?;
//! let data = sampa::data::idx::embedded()?;
//! let model = Model::mlp(784, &[256, 256], data.classes)?;
//! let spec = TrainerSpec {
//!     model: model.clone(),
//!     smoothing: 0.0,
//!     optimizer: OptimizerConfig {
//!         kind: OptimizerKind::Sampa,
//!         lambda: 0.2,
//!         ..OptimizerConfig::default()
//!     },
//!     seed: 0,
//!     // The adapter's kernel forms, measured once and cached, as a run chooses them.
//!     kernels: sampa::tuning::choose(&gpu)?,
//! };
//! let mut trainer = Trainer::new(&gpu, spec, &model.init(0))?;
//! let opts = BatchOptions {
//!     batch: 128,
//!     shuffle: true,
//!     seed: 0,
//!     normalize: None,
//!     augment: false,
//!     cutout: false,
//!     imagenet: false,
//! };
//! let sgd = SgdHyper { lr: 0.05, momentum: 0.9, weight_decay: 5e-4, nesterov: false };
//! let (mut batches, mut batch) = (Batcher::new(&data.train, opts.clone(), 0), Batch::default());
//! while batches.next_into(&mut batch)? {
//!     // Both of SAMPa's gradients and the update, recorded and submitted as one step.
//!     let [loss, _] = trainer.step(&gpu, &batch, sgd)?;
//!     assert!(loss.is_finite());
//! }
//! let scores = gpu.block_on(trainer.evaluate_async(&gpu, &data.test, &opts))?;
//! assert!(scores.accuracy > 0.6, "test accuracy {}", scores.accuracy);
//! # Ok(())
//! # }
//! # #[cfg(target_arch = "wasm32")]
//! # fn main() {}
//! ```
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
pub mod text;
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
