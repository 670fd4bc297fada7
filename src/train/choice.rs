//! Programs with two forms of a step (LookSAM, AE-SAM; `optim::program::Alternative`): which
//! form each step takes, and what that needs.
//!
//! LookSAM's choice is the step count's. AE-SAM's is the data's: it needs n = ‖g‖² of the
//! step's gradient at x on the host before the rest of the step is recorded, so such a step
//! is two submissions. The first ends with the shared operations (the pass at x), n's
//! reduction and its copy out; the host waits for n, updates the running statistics and
//! decides (`optim::aesam::AeSamState::decide`, the reference's own code), and records the
//! rest. The wait costs the pipelining of that step: the device idles while the host decides.

use super::flight::Recording;
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf, Readback};
use crate::kernels::{Dispatch, norm};
use crate::optim::aesam::{self, AeSamState};
use crate::optim::program::{Alternative, Choice};

use super::recorder::Recorded;

/// A trainer's choice between its program's two forms.
pub(crate) struct StepChoice {
    pub choice: Choice,
    /// The operations both forms start with.
    pub shared: usize,
    /// AE-SAM's reduction of ‖g‖², the value and its readback.
    norm: Option<(Dispatch, GpuBuf<f32>, Readback)>,
    /// AE-SAM's running statistics.
    pub aesam: AeSamState,
    /// The run's length in steps (sets AE-SAM's c_t).
    pub run_steps: Option<usize>,
}

impl StepChoice {
    /// The choice of `rec`'s program, if it has two forms.
    pub(crate) fn new(gpu: &Gpu, rec: &Recorded) -> Result<Option<StepChoice>> {
        let Some(Alternative { choice, shared, .. }) = rec.program.alternative else {
            return Ok(None);
        };
        let norm = match choice {
            Choice::Every(_) => None,
            Choice::Adaptive { of, .. } => {
                let value = gpu.zeros::<f32>(1, "AE-SAM's ‖g‖²")?;
                let form = crate::kernels::VectorForm::Storage;
                let d = norm::prepare(gpu, form, rec.vector(of).view(), value.view())?;
                Some((d, value, Readback::new(gpu, 1)))
            }
        };
        Ok(Some(StepChoice {
            choice,
            shared,
            norm,
            aesam: AeSamState::default(),
            run_steps: None,
        }))
    }

    /// Steps in the full form among the first `steps`.
    pub(crate) fn full_steps(&self, steps: usize) -> usize {
        match self.choice {
            Choice::Every(k) => steps.div_ceil(k),
            Choice::Adaptive { .. } => self.aesam.sam_steps,
        }
    }
}

/// Whether the step after `step` steps (its shared operations already in `r`) takes the other
/// form of `choice`'s program. AE-SAM's choice submits `r`'s commands with n's copy and waits
/// for n.
pub(crate) async fn other_form(
    choice: Option<&mut StepChoice>,
    step: usize,
    gpu: &Gpu,
    r: &mut Recording,
) -> Result<bool> {
    let Some(c) = choice else {
        return Ok(false);
    };
    let bounds = match c.choice {
        Choice::Every(k) => return Ok(!step.is_multiple_of(k)),
        Choice::Adaptive { c0, c1, .. } => [c0, c1],
    };
    let (dispatch, value, readback) = c.norm.as_ref().expect("AE-SAM's choice has its norm");
    dispatch.record(&mut r.encoder);
    readback.record(&mut r.encoder, value);
    let index = r.submit_so_far(gpu, "AE-SAM's gradient norm")?;
    let n = readback.read_after(index).await?[0] as f64;
    let c_t = aesam::c_at(bounds, step, c.run_steps);
    Ok(!c.aesam.decide(n, c_t))
}
