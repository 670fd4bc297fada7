//! Datasets: IDX (MNIST family), CIFAR binary batches, image folders, the embedded
//! Fashion-MNIST subset, and tokenized text (`text`), plus seeded batching with normalisation and augmentation. The
//! in-memory types and batching also build for the browser, which gets its data from memory;
//! the readers are native.
//!
//! What it must not touch: the GPU. Nothing here imports `gpu` or `kernels`; batches are host
//! memory that the trainer uploads.

mod batch;
#[cfg(not(target_arch = "wasm32"))]
pub mod cifar;
mod dataset;
#[cfg(not(target_arch = "wasm32"))]
pub mod decode;
#[cfg(not(target_arch = "wasm32"))]
pub mod folder;
pub mod idx;
#[cfg(not(target_arch = "wasm32"))]
mod load;
pub mod resample;
#[cfg(not(target_arch = "wasm32"))]
mod resize;
#[cfg(not(target_arch = "wasm32"))]
pub mod stream;
pub mod text;

pub use batch::{Batch, BatchOptions, Batcher, Drawn, IMAGENET_STATS, channel_stats, split_groups};
pub use dataset::{Dataset, ImageShape, Splits};
#[cfg(not(target_arch = "wasm32"))]
pub use folder::FolderOptions;
#[cfg(not(target_arch = "wasm32"))]
pub use load::{DEFAULT_DATA_DIR, LoadOptions, Source, default_workers, load};
