//! The optimizers, each in its own module as a short GPU program (`program`) beside its f64
//! reference step, written to read like the papers' algorithms; their options (`config`); and
//! the reference's state over a run (`reference`).
//!
//! What it must not touch: files, data readers and the epoch loop (`run`'s). A program names
//! vectors and passes; where and when they run is the trainer's and the schedules'.

pub mod aesam;
pub mod base;
pub mod config;
pub mod esam;
pub mod gsam;
pub mod looksam;
pub mod lr;
pub mod ops;
pub mod optsam;
pub mod oracle;
pub mod program;
pub mod randsam;
pub mod reference;
pub mod sam;
pub mod sam_on;
pub mod samdb;
pub mod sampa;
pub mod sgd;
pub mod vasso;

pub use base::{BaseHyper, BaseKind, BaseSettings};
pub use config::{BnStats, LookaheadMode, OptimizerConfig, OptimizerKind, PerturbOnly};
pub use program::Program;

/// The program of the optimizer `c` names.
pub fn program(c: &OptimizerConfig) -> Program {
    let program = match c.kind {
        OptimizerKind::Sgd => sgd::program(),
        OptimizerKind::Sam => sam::program(c),
        OptimizerKind::SamDb => samdb::program(),
        OptimizerKind::Sampa => sampa::program(c),
        OptimizerKind::RandSam => randsam::program(),
        OptimizerKind::OptSam => optsam::program(),
        OptimizerKind::Gsam => gsam::program(c),
        OptimizerKind::LookSam => looksam::program(c),
        OptimizerKind::AeSam => aesam::program(c),
        OptimizerKind::Esam => esam::program(c),
    };
    program.with_state(base::state(c.base))
}

/// The indices (among the program's passes, in order) of the passes whose batch statistics
/// update BatchNorm's running statistics: `--bn-stats`, else the optimizer's default. An
/// error names the passes the optimizer has when `--bn-stats` names another.
pub fn bn_passes(c: &OptimizerConfig) -> crate::error::Result<Vec<usize>> {
    let program = program(c);
    let passes = program.passes();
    let names: Vec<&str> = passes.iter().map(|p| p.name).collect();
    let name = match (c.bn_stats, c.kind) {
        (Some(b), _) => b.name(),
        (None, OptimizerKind::Sampa) => "y",
        (None, OptimizerKind::RandSam | OptimizerKind::OptSam) => "x~",
        (None, _) => "x",
    };
    let chosen = match name {
        "all" => (0..names.len()).collect(),
        _ => match program.pass_index(name) {
            Some(i) => vec![i],
            None => {
                return Err(crate::error::Error::Invalid(format!(
                    "--bn-stats {name}: {} has no pass called {name}; its passes are {} (or all)",
                    c.label(),
                    names.join(", ")
                )));
            }
        },
    };
    // A pass the other form of a step skips has no statistics on those steps.
    if let Some(a) = &program.alternative {
        let every_step =
            |i: &usize| program.ops[..a.shared].contains(&program::Op::Grad(passes[*i]));
        if !chosen.iter().all(every_step) {
            return Err(crate::error::Error::Invalid(format!(
                "--bn-stats {name}: {} skips a pass of it on some steps; only x updates the \
                 running statistics on every step",
                c.label()
            )));
        }
    }
    Ok(chosen)
}
