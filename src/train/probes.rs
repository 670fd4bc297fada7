//! What a step measures besides its loss, read back with it: the perturbation's norms (every
//! SAM-family step, logged with `--log-every`) and SAMPa's diagnosis (`--diagnose-every`).
//!
//! **The perturbation's norms.** Every perturbation already reduces its direction d to the norm
//! it divides by, and leaves it on the device; the step copies it into its readback, and the
//! host works out ‖d‖ and ‖ε‖ from it in closed form (ε = ρ·d/(‖d‖ + eps), or ρ·d unnormalised).
//! ASAM's ε = ρ·x²⊙d/(‖|x|⊙d‖ + eps) has no such form, so its perturbation also reduces ‖d‖²
//! and ‖x̃ − x‖² (elementwise, the distance the perturbation moved x in f32); so does ESAM's,
//! along the chosen tensors' gradient but divided by the whole gradient's norm (its ‖g‖).
//!
//! **The diagnosis** (the SAMPa paper's appendix figure): every N steps, one more gradient
//! pass, ∇f(x_t) at the step's starting point on the batch of SAMPa's y pass (with its dropout
//! key, so the two gradients differ only in where they are taken), then four reductions
//! against that pass's gradient ∇f(y_t): their dot product, both squared norms and their
//! squared distance, which give cos(∇f(x_t), ∇f(y_t)) and ‖∇f(x_t) − ∇f(y_t)‖. The pass runs
//! before the step's operations, while x is still x_t; the reductions after them, once
//! ∇f(y_t) is in.

use crate::data::Batch;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf, Readback};
use crate::kernels::norm;
use crate::kernels::perturb::{EPS, Perturbation};
use crate::kernels::{Dispatch, VectorForm, View};
use crate::nn::evaluator::Evaluator;
use crate::optim::program::{Pass, Vector};

use crate::kernels::Kernels;
use crate::nn::Model;

/// Where the probes' values lie in a trainer's readback: after the reported pass's loss and
/// correct count, the perturbation's three, then the diagnosis's four.
pub(crate) const PERTURBATION_AT: usize = 2;
pub(crate) const PERTURBATION_VALUES: usize = 3;
pub(crate) const DIAGNOSIS_AT: usize = PERTURBATION_AT + PERTURBATION_VALUES;
pub(crate) const DIAGNOSIS_VALUES: usize = 4;

/// A perturbation's norms in one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerturbationNorms {
    /// ‖d‖: the norm of the direction the perturbation followed (SAM's gradient at x,
    /// SAMPa's g_y, VaSSO's average, SAM-ON's masked gradient).
    pub grad: f32,
    /// ‖ε‖: how far the perturbation moved x.
    pub eps: f32,
}

impl PerturbationNorms {
    /// The norms from a perturbation's device values `[the squared norm it divided by, ‖d‖²,
    /// ‖x̃ − x‖²]` (‖d‖² written only under ASAM, ‖x̃ − x‖² only when `measured`).
    pub(crate) fn from_values(
        (how, measured): (Perturbation, bool),
        values: &[f32],
    ) -> PerturbationNorms {
        if measured {
            let d = if how.adaptive { values[1] } else { values[0] };
            return PerturbationNorms {
                grad: d.sqrt(),
                eps: values[2].sqrt(),
            };
        }
        let (d, rho) = ((values[0] as f64).sqrt(), how.rho as f64);
        let eps = match how.normalized {
            true => rho * d / (d + EPS as f64),
            false => rho * d,
        };
        PerturbationNorms {
            grad: d as f32,
            eps: eps as f32,
        }
    }
}

/// Prepare a perturbation's reductions beside the kernel itself: the values buffer the
/// kernel writes its norm into (element 0), and under ASAM the dispatch that writes ‖d‖² and
/// ‖x̃ − x‖² into elements 1 and 2.
pub(crate) fn perturbation_values(
    gpu: &Gpu,
    (how, form): (Perturbation, VectorForm),
    (x, d, moved): (View<'_>, View<'_>, View<'_>),
) -> Result<(GpuBuf<f32>, Option<Dispatch>)> {
    let values = gpu.zeros::<f32>(PERTURBATION_VALUES, "perturbation norms")?;
    let extra = match how.adaptive {
        true => {
            let plain = norm::prepare(gpu, form, d, values.slice(1, 1)?)?;
            let distance = norm::prepare_distance(gpu, x, moved, values.slice(2, 1)?)?;
            Some(plain.then(distance))
        }
        false => None,
    };
    Ok((values, extra))
}

/// SAMPa's diagnosis, every `every` steps.
pub(crate) struct Diagnosis {
    pub every: usize,
    /// The pass at x, into its own gradient buffer.
    evaluator: Evaluator,
    /// The program's pass whose gradient ∇f(y_t) it is compared with.
    pub y_pass: usize,
    /// The dot product, both squared norms and the squared distance.
    sums: GpuBuf<f32>,
    reductions: Dispatch,
}

/// One diagnosed step's comparison of ∇f(x_t) and ∇f(y_t).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diagnosed {
    /// cos(∇f(x_t), ∇f(y_t)).
    pub cos: f32,
    /// ‖∇f(x_t) − ∇f(y_t)‖.
    pub distance: f32,
    /// ‖∇f(x_t)‖.
    pub norm_x: f32,
    /// ‖∇f(y_t)‖.
    pub norm_y: f32,
}

impl Diagnosed {
    /// From the device values `[dot, ‖gx‖², ‖gy‖², ‖gx − gy‖²]`.
    pub(crate) fn from_values(v: &[f32]) -> Diagnosed {
        let (nx, ny) = ((v[1] as f64).sqrt(), (v[2] as f64).sqrt());
        Diagnosed {
            cos: (v[0] as f64 / (nx * ny)) as f32,
            distance: v[3].sqrt(),
            norm_x: nx as f32,
            norm_y: ny as f32,
        }
    }
}

impl Diagnosis {
    /// The diagnosis every `every` steps of a trainer of `spec` (its optimizer's label and
    /// its evaluators' model, smoothing and kernels) whose passes are `passes` and whose
    /// vectors `vector` gives: it must have a pass called `y` (SAMPa's).
    pub(crate) fn new(
        gpu: &Gpu,
        (label, passes, vector): (&str, &[Pass], &dyn Fn(Vector) -> GpuBuf<f32>),
        (model, smoothing, kernels): (&Model, f32, Kernels),
        every: usize,
    ) -> Result<Diagnosis> {
        let y_pass = passes.iter().position(|p| p.name == "y").ok_or_else(|| {
            Error::Invalid(format!(
                "--diagnose-every: {label} has no look-ahead point y to compare ∇f(x) with; \
                 the diagnosis is SAMPa's (--optimizer sampa)"
            ))
        })?;
        if every == 0 {
            return Err(Error::Invalid(
                "--diagnose-every must be at least 1 (a step count)".into(),
            ));
        }
        let x = vector(Vector::X);
        let gx = gpu.zeros_rows(x.len, "∇f(x) for the diagnosis")?;
        let gy = vector(passes[y_pass].into);
        let evaluator = Evaluator::new(model.clone(), smoothing, kernels, &x, &gx)?;
        let sums = gpu.zeros::<f32>(DIAGNOSIS_VALUES, "diagnosis sums")?;
        let form = kernels.vectors;
        let reductions = norm::prepare_dot(gpu, gx.view(), gy.view(), sums.slice(0, 1)?)?
            .then(norm::prepare(gpu, form, gx.view(), sums.slice(1, 1)?)?)
            .then(norm::prepare(gpu, form, gy.view(), sums.slice(2, 1)?)?)
            .then(norm::prepare_distance(
                gpu,
                gx.view(),
                gy.view(),
                sums.slice(3, 1)?,
            )?);
        Ok(Diagnosis {
            every,
            evaluator,
            y_pass,
            sums,
            reductions,
        })
    }

    /// Whether step `step` (1 for a run's first) is diagnosed.
    pub(crate) fn due(&self, step: usize) -> bool {
        step.is_multiple_of(self.every)
    }

    /// Load the y pass's batch (and its dropout key) and record the pass at x.
    pub(crate) fn record_pass(
        &mut self,
        gpu: &Gpu,
        (batch, dropout_key): (&Batch, u32),
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<()> {
        if self.evaluator.model().has_dropout() {
            self.evaluator.set_dropout_keys(&[dropout_key])?;
        }
        let plan = self.evaluator.load(gpu, batch)?;
        Evaluator::record_gradient(plan, encoder);
        Ok(())
    }

    /// Record the reductions and their copy into `readback`, after the step's operations.
    pub(crate) fn record_sums(&self, encoder: &mut wgpu::CommandEncoder, readback: &Readback) {
        self.reductions.record(encoder);
        readback.record_part(encoder, &self.sums, 0, DIAGNOSIS_VALUES, DIAGNOSIS_AT);
    }
}
