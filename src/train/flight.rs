//! What the step driver (`step.rs`) passes between a step's parts: what a schedule leaves
//! it to submit ([`Recording`]), what it keeps of a step until the step is read back
//! ([`InFlight`]), and what a step reports ([`StepReport`]).

use crate::gpu::Gpu;

/// What one step reported, read back after the step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// The step's number (1 for a run's first step).
    pub step: usize,
    /// The reported pass's mean loss.
    pub loss: f32,
    /// The reported pass's correct count.
    pub correct: f32,
    /// ‖x‖² after the step.
    pub norm_sq: f32,
    /// The perturbation's norms, for programs that perturb x.
    pub perturbation: Option<super::probes::PerturbationNorms>,
    /// SAMPa's diagnosis, on the steps `--diagnose-every` names.
    pub diagnosis: Option<super::probes::Diagnosed>,
}

impl StepReport {
    /// `[mean loss, correct count]`.
    pub fn metrics(&self) -> [f32; 2] {
        [self.loss, self.correct]
    }

    /// What diverged in the step: the loss, or the parameters (whose norm can overflow while
    /// the loss stays finite); `None` when neither.
    pub fn divergence(&self) -> Option<String> {
        let loss = self.loss;
        if !loss.is_finite() {
            Some(format!("the training loss became {loss}"))
        } else if !self.norm_sq.is_finite() {
            Some(format!(
                "the parameters' squared norm became {} (the loss was still {loss})",
                self.norm_sq
            ))
        } else {
            None
        }
    }
}

/// What a schedule leaves the driver once it has recorded a step: the commands of the step's
/// last submission (its update, with the copies of the reported metrics and of the batch
/// statistics into [`Trainer::readback`]), and what the readback will not hold.
pub(crate) struct Recording {
    pub encoder: wgpu::CommandEncoder,
    /// The reported pass's metrics when they came from elsewhere (a `dual` worker's reply);
    /// otherwise the schedule recorded their copy.
    pub known: Option<[f32; 2]>,
    /// The batch size of each pass that updates BatchNorm's running statistics.
    pub sizes: Vec<usize>,
    /// Such passes' statistics from elsewhere (a `dual` worker's), by slot.
    pub remote: Vec<(usize, Vec<f32>)>,
    /// Whether the submission also stages the `dual` worker's next point.
    pub stages_point: bool,
    /// The sizes of a grouped step's groups, whose metrics follow the readback's other values.
    pub groups: Vec<usize>,
    /// Whether the step took its program's other form (whose update leaves ‖x‖²'s partial
    /// sums in a buffer of its own).
    pub other_form: bool,
}

impl Recording {
    /// Submit the commands recorded so far (`what` names them in an error) and go on
    /// recording into a fresh encoder: for a step whose host must wait for a value mid-step,
    /// or whose next commands need writes that must follow these.
    pub fn submit_so_far(
        &mut self,
        gpu: &Gpu,
        what: &str,
    ) -> crate::error::Result<wgpu::SubmissionIndex> {
        let done = std::mem::replace(&mut self.encoder, Recording::new(gpu).encoder);
        gpu.checked(what, || gpu.submit(done.finish()))
    }

    /// A step's last submission, still to be recorded, with nothing known from elsewhere.
    pub fn new(gpu: &Gpu) -> Recording {
        Recording {
            encoder: gpu.device.create_command_encoder(&Default::default()),
            known: None,
            sizes: Vec::new(),
            remote: Vec::new(),
            stages_point: false,
            other_form: false,
            groups: Vec::new(),
        }
    }
}

/// A step submitted and not yet read back.
pub(crate) struct InFlight {
    pub index: wgpu::SubmissionIndex,
    /// Which of the two readbacks holds its values.
    pub slot: usize,
    pub step: usize,
    /// Whether the step ran the diagnosis.
    pub diagnosed: bool,
    pub known: Option<[f32; 2]>,
    pub sizes: Vec<usize>,
    pub remote: Vec<(usize, Vec<f32>)>,
    /// The sizes of a grouped step's groups.
    pub groups: Vec<usize>,
}
