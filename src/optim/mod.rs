//! The optimizers, each in its own module as a short GPU program (`program`) beside its f64
//! reference step, written to read like the papers' algorithms; their options (`config`); and
//! the reference's state over a run (`reference`).

pub mod config;
pub mod optsam;
pub mod oracle;
pub mod program;
pub mod randsam;
pub mod reference;
pub mod sam;
pub mod samdb;
pub mod sampa;
pub mod sgd;

pub use config::{LookaheadMode, OptimizerConfig, OptimizerKind};
pub use program::Program;

/// The program of the optimizer `c` names.
pub fn program(c: &OptimizerConfig) -> Program {
    match c.kind {
        OptimizerKind::Sgd => sgd::program(),
        OptimizerKind::Sam => sam::program(),
        OptimizerKind::SamDb => samdb::program(),
        OptimizerKind::Sampa => sampa::program(c),
        OptimizerKind::RandSam => randsam::program(),
        OptimizerKind::OptSam => optsam::program(),
    }
}
