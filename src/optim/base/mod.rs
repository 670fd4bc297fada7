//! The base optimizer every SAM variant ends with, as davda54/sam's `base_optimizer`: SGD
//! (`sgd.rs`) or Adam and AdamW (`adam.rs`). Each module owns its state vectors and
//! hyper-parameters, its GPU step and look-ahead, and their f64 references; the variants'
//! programs name only "the base step" (`Op::Step`) and "the look-ahead" (`Op::LookAhead`),
//! and the recorder prepares whichever base the run asks for through [`BaseStep`] and
//! [`BaseLook`].
//!
//! Adding a base is a module here with the same functions as `sgd.rs` and `adam.rs`, its
//! kernels, an arm in each `match` of this file, its state vectors in `program::Vector`, and
//! its name in [`BaseKind`] (`config.rs`, beside the other options).

pub mod adam;
mod params;
pub mod sgd;

pub use params::Params;

pub use super::config::BaseKind;
use super::config::LookaheadMode;
use super::program::Vector;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};
use crate::kernels::adam::AdamHyper;
use crate::kernels::decay::DecayMask;
use crate::kernels::sgd::SgdHyper;
use crate::kernels::{Dispatch, VectorForm, View};

/// The vectors `base` carries from step to step, as long as x: its state.
pub fn state(base: BaseKind) -> &'static [Vector] {
    match base {
        BaseKind::Sgd => sgd::STATE,
        BaseKind::Adam | BaseKind::AdamW => adam::STATE,
    }
}

/// Everything a base step needs but the learning rate: the run's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BaseSettings {
    /// Which base.
    pub kind: BaseKind,
    /// Each base's own weight decay (`--wd`).
    pub weight_decay: f32,
    /// SGD's momentum factor.
    pub momentum: f32,
    /// SGD's Nesterov momentum.
    pub nesterov: bool,
    /// Adam's β1 and β2.
    pub betas: [f32; 2],
    /// Adam's eps.
    pub eps: f32,
}

impl BaseSettings {
    /// One step's hyper-parameters at learning rate `lr`.
    pub fn hyper(&self, lr: f32) -> BaseHyper {
        match self.kind {
            BaseKind::Sgd => BaseHyper::Sgd(SgdHyper {
                lr,
                momentum: self.momentum,
                weight_decay: self.weight_decay,
                nesterov: self.nesterov,
            }),
            BaseKind::Adam | BaseKind::AdamW => BaseHyper::Adam(AdamHyper {
                lr,
                betas: self.betas,
                eps: self.eps,
                weight_decay: self.weight_decay,
                decoupled: self.kind == BaseKind::AdamW,
            }),
        }
    }
}

/// The hyper-parameters of one base step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BaseHyper {
    /// SGD's.
    Sgd(SgdHyper),
    /// Adam's or AdamW's.
    Adam(AdamHyper),
}

impl From<SgdHyper> for BaseHyper {
    fn from(h: SgdHyper) -> BaseHyper {
        BaseHyper::Sgd(h)
    }
}

impl From<AdamHyper> for BaseHyper {
    fn from(h: AdamHyper) -> BaseHyper {
        BaseHyper::Adam(h)
    }
}

impl BaseHyper {
    /// The base step every timed training step of `base` takes (benchmarks and choices by
    /// measurement): small rates, so long timing runs stay finite.
    pub fn timed(base: BaseKind) -> BaseHyper {
        match base {
            BaseKind::Sgd => SgdHyper::TIMED.into(),
            BaseKind::Adam | BaseKind::AdamW => AdamHyper {
                decoupled: base == BaseKind::AdamW,
                ..AdamHyper::TIMED
            }
            .into(),
        }
    }

    /// The base these are for.
    pub fn kind(&self) -> BaseKind {
        match self {
            BaseHyper::Sgd(_) => BaseKind::Sgd,
            BaseHyper::Adam(h) if h.decoupled => BaseKind::AdamW,
            BaseHyper::Adam(_) => BaseKind::Adam,
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        match self {
            BaseHyper::Sgd(h) => h.lr,
            BaseHyper::Adam(h) => h.lr,
        }
    }

    /// The hyper-parameters a look-ahead in `mode` compares when the recorder decides whether
    /// the point the last update wrote is still right.
    pub fn look(self, mode: LookaheadMode) -> BaseHyper {
        match self {
            BaseHyper::Sgd(h) => BaseHyper::Sgd(mode.hyper(h)),
            adam => adam,
        }
    }
}

/// An error for hyper-parameters of another base than the trainer's.
pub(crate) fn mismatch(want: BaseKind, got: BaseKind) -> Error {
    Error::Invalid(format!(
        "the step's hyper-parameters are for --base {}, but the trainer's base is {}",
        got.name(),
        want.name()
    ))
}

/// The f64 reference of one base step: x and the state (in [`state`]'s order)
/// updated in place; `steps` is the number of steps taken before this one. With `decay`,
/// weight decay applies only where its bits are set (`--no-wd-1d`).
pub fn reference_step(
    hyper: BaseHyper,
    steps: usize,
    grad: &[f64],
    (x, state): (&mut [f64], &mut [Vec<f64>]),
    decay: Option<&DecayMask>,
) {
    match hyper {
        BaseHyper::Sgd(h) => sgd::reference_step(h, steps, grad, (x, state), decay),
        BaseHyper::Adam(h) => adam::reference_step(h, steps, grad, (x, state), decay),
    }
}

/// The f64 reference of SAMPa's look-ahead from `steps` steps taken (at least one): where the
/// base step would move x with gradient `grad`, the state read but not changed; the paper's
/// x − lr·grad for every base in [`LookaheadMode::Paper`]; `decay` as [`reference_step`]'s.
pub fn reference_lookahead(
    hyper: BaseHyper,
    (mode, steps): (LookaheadMode, usize),
    grad: &[f64],
    (x, state): (&[f64], &[Vec<f64>]),
    decay: Option<&DecayMask>,
) -> Vec<f64> {
    if mode == LookaheadMode::Paper {
        let lr = hyper.lr() as f64;
        return x.iter().zip(grad).map(|(x, g)| x - lr * g).collect();
    }
    match hyper {
        BaseHyper::Sgd(h) => sgd::reference_lookahead(h, grad, (x, state), decay),
        BaseHyper::Adam(h) => adam::reference_lookahead(h, steps, grad, (x, state), decay),
    }
}

/// A base step prepared on a device.
#[derive(Debug)]
pub enum BaseStep {
    /// SGD's (optionally also writing the next look-ahead point).
    Sgd(crate::kernels::sgd::SgdStep),
    /// Adam's or AdamW's.
    Adam(crate::kernels::adam::AdamStep),
}

impl BaseStep {
    /// Prepare x ← base step with (1 − λ)·g_a + λ·g_b over x and `state` (the vectors of
    /// [`state`], in order); with `decay` (a [`DecayMask`] on the device), weight decay
    /// applies only where its bits are set. With `y`, the step also writes the next
    /// look-ahead point (only bases that [`BaseKind::fuses_lookahead`]).
    pub fn prepare(
        gpu: &Gpu,
        (kind, form): (BaseKind, VectorForm),
        grads: [View<'_>; 2],
        at: Params<'_, '_>,
        y: Option<View<'_>>,
    ) -> Result<BaseStep> {
        match kind {
            BaseKind::Sgd => sgd::prepare_step(gpu, form, grads, at, y).map(BaseStep::Sgd),
            BaseKind::Adam | BaseKind::AdamW => {
                adam::prepare_step(gpu, grads, at, y).map(BaseStep::Adam)
            }
        }
    }

    /// The step's dispatch.
    pub fn dispatch(&self) -> &Dispatch {
        match self {
            BaseStep::Sgd(s) => &s.dispatch,
            BaseStep::Adam(s) => &s.dispatch,
        }
    }

    /// The partial sums of ‖x‖² the step leaves (the norm's first stage over the new x).
    pub fn squares(&self) -> &GpuBuf<f32> {
        match self {
            BaseStep::Sgd(s) => s.squares(),
            BaseStep::Adam(s) => s.squares(),
        }
    }

    /// Set the next recorded step: `hyper` after `steps` steps taken, `lambda` the weight
    /// of the second gradient.
    pub fn set(&self, gpu: &Gpu, hyper: BaseHyper, steps: usize, lambda: f32) -> Result<()> {
        match (self, hyper) {
            (BaseStep::Sgd(s), BaseHyper::Sgd(h)) => s.set(gpu, h, steps == 0, lambda),
            (BaseStep::Adam(s), BaseHyper::Adam(h)) => s.set(gpu, h, steps + 1, lambda),
            (BaseStep::Sgd(_), h) => return Err(mismatch(BaseKind::Sgd, h.kind())),
            (BaseStep::Adam(_), h) => return Err(mismatch(BaseKind::Adam, h.kind())),
        }
        Ok(())
    }

    /// Set the look-ahead a step prepared with `y` writes after itself, in `mode`.
    pub fn set_lookahead(&self, gpu: &Gpu, hyper: BaseHyper, mode: LookaheadMode) {
        if let (BaseStep::Sgd(s), BaseHyper::Sgd(h)) = (self, hyper) {
            s.set_lookahead(gpu, mode.hyper(h));
        }
    }
}

/// SAMPa's look-ahead prepared on a device: y ← where the base step would move x.
#[derive(Debug)]
pub enum BaseLook {
    /// SGD's.
    Sgd(crate::kernels::sgd::Lookahead),
    /// Adam's or AdamW's.
    Adam(crate::kernels::adam::AdamLookahead),
}

impl BaseLook {
    /// Prepare y ← look-ahead(g) from x and `state` (the vectors of [`state`]), `decay` as
    /// [`BaseStep::prepare`]'s.
    pub fn prepare(
        gpu: &Gpu,
        (kind, form): (BaseKind, VectorForm),
        g: View<'_>,
        at: Params<'_, '_>,
        y: View<'_>,
    ) -> Result<BaseLook> {
        match kind {
            BaseKind::Sgd => sgd::prepare_look(gpu, form, g, at, y).map(BaseLook::Sgd),
            BaseKind::Adam | BaseKind::AdamW => {
                adam::prepare_look(gpu, g, at, y).map(BaseLook::Adam)
            }
        }
    }

    /// The dispatch.
    pub fn dispatch(&self) -> &Dispatch {
        match self {
            BaseLook::Sgd(l) => &l.dispatch,
            BaseLook::Adam(l) => &l.dispatch,
        }
    }

    /// Set the next recorded look-ahead: in `mode`, with `hyper`, after `steps` steps taken.
    /// Before the first step there is no gradient to look ahead with, and y = x exactly.
    pub fn set(
        &self,
        gpu: &Gpu,
        hyper: BaseHyper,
        mode: LookaheadMode,
        steps: usize,
    ) -> Result<()> {
        let first = steps == 0;
        match (self, hyper) {
            (BaseLook::Sgd(l), BaseHyper::Sgd(h)) => {
                let lr = if first { 0.0 } else { h.lr };
                l.set(
                    gpu,
                    SgdHyper {
                        lr,
                        ..mode.hyper(h)
                    },
                    first,
                );
            }
            (BaseLook::Adam(l), BaseHyper::Adam(h)) => {
                let lr = if first { 0.0 } else { h.lr };
                l.set(
                    gpu,
                    AdamHyper { lr, ..h },
                    steps + 1,
                    mode == LookaheadMode::Paper,
                );
            }
            (BaseLook::Sgd(_), h) => return Err(mismatch(BaseKind::Sgd, h.kind())),
            (BaseLook::Adam(_), h) => return Err(mismatch(BaseKind::Adam, h.kind())),
        }
        Ok(())
    }
}
