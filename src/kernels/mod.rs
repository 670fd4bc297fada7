//! The kernel library: one folder per kernel family, each holding its WGSL, the Rust wrapper
//! that prepares it, its CPU f64 reference and its GPU-vs-reference tests.
//!
//! A kernel call is prepared once into a [`Dispatch`]: pipeline, bind group and grid size,
//! with its shape parameters in a small uniform buffer. Training records the same dispatches
//! every step, so the hot path allocates nothing. Shapes and buffer sizes are checked when a
//! dispatch is prepared, and a mismatch is an [`crate::Error::Shape`], never a panic or a GPU
//! fault. Where a kernel has a form for CPU rasterisers (texture reads) beside its storage
//! form, [`choice::Kernels`] says which one a device uses; it is chosen once per adapter and
//! passed down.
//!
//! What it must not touch: models, optimizer state, data and files. Nothing here imports `nn`,
//! `optim`, `train` or `run`; a kernel sees only the buffers and shapes it is given.

pub mod adam;
pub mod attention;
pub mod avgpool;
pub mod batchnorm;
pub mod bias;
pub mod channels;
pub mod choice;
pub mod clip;
pub mod combine;
pub mod conv;
pub mod decay;
pub mod dispatch;
pub mod dropout;
pub(crate) mod elementwise;
pub mod embedding;
pub mod gelu;
pub(crate) mod launch;
pub mod layernorm;
pub mod layout;
pub mod matmul;
pub mod maxpool;
pub mod membench;
pub mod mse;
pub mod norm;
pub mod perturb;
pub mod relu;
pub mod residual;
pub mod sgd;
pub mod softmax_xent;
pub mod tanh;
pub(crate) mod textures;
pub mod tokens;
pub mod transpose;
pub mod uniforms;
pub mod vector;
pub mod view;

pub use choice::{Kernels, ShapeClass, VectorForm};
pub use dispatch::{Dispatch, SyncPoint};
pub use view::View;
