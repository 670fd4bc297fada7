//! What a checkpoint takes of a trainer ([`TrainerState`]), and how a trainer gives and takes
//! it back: its vectors on the device, the step count, the previous batch, the optimizer's
//! generator and the model's non-trainable state.

use super::trainer::{Placed, Trainer};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::optim::aesam::AeSamState;
use crate::optim::program::{Choice, Vector};
use crate::rng::Pcg;

/// Everything a checkpoint needs to continue a trainer exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerState {
    /// Parameters.
    pub x: Vec<f32>,
    /// The base optimizer's state vectors (SGD's momentum; Adam's exp_avg and exp_avg_sq),
    /// in the program's order (`Program::state`).
    pub base_state: Vec<(Vector, Vec<f32>)>,
    /// The vectors the program carries from step to step (SAMPa's g_y, OptSAM's previous
    /// gradient), in the program's order; with SAMPa and m-sharpness each group's g_y after
    /// them.
    pub carried: Vec<Vec<f32>>,
    /// The model's non-trainable state (empty for models without normalisation layers).
    pub model_state: Vec<f32>,
    /// Steps taken.
    pub steps: usize,
    /// The previous step's batch, for programs with a pass on it.
    pub previous: Option<Batch>,
    /// The optimizer's generator (RandSAM's directions).
    pub noise_rng: (u64, u64),
    /// AE-SAM's running statistics.
    pub aesam: Option<AeSamState>,
}

impl Trainer {
    /// Replace the model's non-trainable state (BatchNorm's running statistics), as read from
    /// a model file.
    pub fn set_model_state(&mut self, state: Vec<f32>) -> Result<()> {
        if state.len() != self.model_state.len() {
            return Err(Error::shape(
                "trainer",
                format!(
                    "{} has {} state values, got {}",
                    self.spec.model.name,
                    self.model_state.len(),
                    state.len()
                ),
            ));
        }
        self.model_state = state;
        Ok(())
    }

    /// A copy of the whole state, for a checkpoint. A step still in flight is read back
    /// first (its report is kept), since its batch statistics belong to the state.
    pub async fn state_async(&mut self, gpu: &Gpu) -> Result<TrainerState> {
        self.settle_async().await?;
        let mut carried = Vec::new();
        for v in &self.rec.program.carries {
            carried.push(gpu.read_async(self.rec.vector(*v)).await?);
        }
        // SAMPa with m-sharpness: each group's g_y after the program's.
        for g in self.kept.iter().flat_map(|k| &k.gradients) {
            carried.push(gpu.read_async(g).await?);
        }
        let mut base_state = Vec::new();
        for v in &self.rec.program.state {
            base_state.push((*v, gpu.read_async(self.rec.vector(*v)).await?));
        }
        Ok(TrainerState {
            x: gpu.read_async(self.params()).await?,
            base_state,
            carried,
            model_state: self.model_state.clone(),
            steps: self.steps,
            previous: self.previous.clone(),
            noise_rng: self.noise.state(),
            aesam: self.aesam_state(),
        })
    }

    /// Blocking [`Trainer::state_async`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn state(&mut self, gpu: &Gpu) -> Result<TrainerState> {
        gpu.block_on(self.state_async(gpu))
    }

    /// Continue from `state` (taken from a trainer of the same model and optimizer). A step
    /// still in flight is forgotten: its report is not wanted once the state is replaced.
    pub fn restore(&mut self, gpu: &Gpu, state: &TrainerState) -> Result<()> {
        let (carries, base) = (&self.rec.program.carries, &self.rec.program.state);
        // SAMPa with m-sharpness carries each group's g_y after the program's vectors.
        let groups = self.rec.program.grouped.is_some() && self.pair.is_some();
        let extra = state.carried.len().saturating_sub(carries.len());
        if state.carried.len() < carries.len()
            || (extra > 0 && !groups)
            || state.model_state.len() != self.model_state.len()
            || !state
                .base_state
                .iter()
                .map(|s| s.0)
                .eq(base.iter().copied())
        {
            return Err(Error::shape(
                "restore",
                format!(
                    "the state carries {} vectors, {} base-optimizer vectors and {} state \
                     values; {} carries {}, {} and {}",
                    state.carried.len(),
                    state.base_state.len(),
                    state.model_state.len(),
                    self.spec.optimizer.label(),
                    carries.len(),
                    base.len(),
                    self.model_state.len()
                ),
            ));
        }
        gpu.write(self.params(), 0, &state.x)?;
        if groups {
            let kept = self.kept.get_or_insert_default();
            let group = self.rec.vectors[&Vector::GyGroup].clone();
            kept.restore(gpu, &group, &state.carried[carries.len()..])?;
        }
        let vectors = carries.iter().zip(&state.carried);
        let base_state = state.base_state.iter().map(|(v, values)| (v, values));
        for (v, values) in base_state.chain(vectors) {
            gpu.write(self.rec.vector(*v), 0, values)?;
        }
        self.model_state.clone_from(&state.model_state);
        self.steps = state.steps;
        (self.in_flight, self.settled) = (None, None);
        self.x_in_point = false;
        self.speculated = None;
        if let Placed::Dual(d) = &mut self.placed {
            d.forget_staged();
        }
        self.previous = state.previous.clone();
        self.noise = Pcg::from_state(state.noise_rng.0, state.noise_rng.1);
        if let Some(c) = &mut self.choice {
            c.aesam = state.aesam.unwrap_or_default();
        }
        Ok(())
    }

    /// AE-SAM's running statistics, for a program that chooses by them.
    fn aesam_state(&self) -> Option<AeSamState> {
        let c = self.choice.as_ref()?;
        matches!(c.choice, Choice::Adaptive { .. }).then_some(c.aesam)
    }
}
