//! Models as a list of layers over one flat parameter vector (and a second flat vector of
//! non-trainable state), their PyTorch-style names and initialisation, the GPU gradient
//! evaluator, and the f64 reference of a whole model. Each layer kind's forward and backward
//! is written once, in `layers/`, for both.
//!
//! What it must not touch: optimizer state, schedules and files. Nothing here imports `optim`,
//! `train` or `run`; the trainer owns the parameters' updates.

pub mod berts;
mod composite;
pub mod decay;
#[cfg(not(target_arch = "wasm32"))]
pub mod densenets;
pub mod evaluator;
mod kinds;
pub mod layer;
mod layers;
pub mod model;
pub mod model_info;
pub mod norm_sites;
mod pass;
pub mod plan;
pub mod products;
pub mod reference;
#[cfg(not(target_arch = "wasm32"))]
pub mod resnets;
#[cfg(not(target_arch = "wasm32"))]
pub mod torchvision;
#[cfg(not(target_arch = "wasm32"))]
pub mod trace;
#[cfg(not(target_arch = "wasm32"))]
pub mod vggs;
pub mod vits;
pub mod weights;

pub use layer::{Act, Layer};
pub use model::{Model, Param};
