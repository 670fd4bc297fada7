//! The GPU context: one opened adapter, its device and queue, a pipeline cache and buffers.
//!
//! Setup happens in three steps: enumerate adapters on every backend, select one (see
//! [`adapters`]), then open a device with the adapter's own limits ([`device`]), so a workload
//! bigger than WebGPU's portable defaults still fits where the hardware allows it.
//!
//! What it must not touch: kernels, models and optimizers. Nothing here imports them; they
//! are built on it.

pub mod adapters;
mod awaited;
mod buffer;
pub mod counters;
pub mod device;
#[cfg(not(target_arch = "wasm32"))]
mod exec;
#[cfg(not(target_arch = "wasm32"))]
mod pipeline_cache;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod timer;

pub use adapters::AdapterSummary;
pub use buffer::{GpuBuf, Readback, TEXTURE_ROW_FLOATS};
pub use device::{ADAPTER_ENV, Gpu};
pub use timer::Timer;
