//! Benchmarks: the same kernels and training steps on every adapter and in the browser,
//! reported side by side.
//!
//! The suite's core builds for both targets: [`plan`] prepares the cases of one adapter,
//! [`rounds`] samples them (warm-up by time, interleaved rounds, host and device time), and
//! [`schema`] is the report that `--json` writes, the browser page offers and `compare` reads.
//! Natively, [`suite`] runs every adapter (with the two-adapter and whole-run cases),
//! [`markdown`] and [`charts`] write the report's other forms, [`compare`] sets reports side
//! by side, and [`parts`] keeps the single-purpose `bench matmul|step` tables.
//!
//! What it must not touch: what training computes. It times the kernels and steps the
//! trainer runs, with the choices a run would make, and changes none of them.

pub mod adapter;
pub mod cases;
pub mod plan;
pub mod rounds;
pub mod schema;
pub mod stats;

#[cfg(not(target_arch = "wasm32"))]
pub mod accuracy;
#[cfg(not(target_arch = "wasm32"))]
pub mod charts;
#[cfg(not(target_arch = "wasm32"))]
pub mod compare;
#[cfg(not(target_arch = "wasm32"))]
pub mod host;
#[cfg(not(target_arch = "wasm32"))]
pub mod markdown;
#[cfg(not(target_arch = "wasm32"))]
pub mod parts;
#[cfg(not(target_arch = "wasm32"))]
pub mod reference;
#[cfg(not(target_arch = "wasm32"))]
pub mod suite;

#[cfg(not(target_arch = "wasm32"))]
pub use parts::*;
pub use schema::{AdapterRecord, BenchResult, Report, SCHEMA};
pub use stats::Stats;
