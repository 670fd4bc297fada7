//! Sweeps: a grid of training runs (optimizers × ρ × λ × seeds over one set of training flags),
//! each in a run directory of its own under the sweep's, and what they add up to: per setting
//! the test accuracy's mean and sample standard deviation over seeds, at the best validation
//! epoch and at the last, the gradient evaluations and the time per epoch (`summary`). The
//! command line (`sampa sweep`) runs the grid's runs as `sampa train` processes.
//!
//! What it must not touch: adapters. Each run is a `sampa train` process, so a sweep opens no
//! device and shares nothing with its runs but their directories.

pub mod grid;
pub mod plot;
pub mod runs;
pub mod summary;

pub use grid::{Grid, RunSpec, Setting};
pub use runs::Status;
pub use summary::{SettingSummary, Stat, Summary};
