//! The learning rate of every step: an optional linear warm-up, then a schedule per step
//! (`linear`, `cosine-step`) or per epoch (`constant`, `cosine`, `step`), as
//! `docs/src/design/algorithms.md` defines them. Native runs and the browser take the same rates.

use serde::{Deserialize, Serialize};

/// How the learning rate changes after warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// The same rate throughout.
    Constant,
    /// Cosine annealing per epoch: lr · (1 + cos(π e / E)) / 2 in epoch e of E (the official
    /// SAMPa code's CosineAnnealingLR).
    Cosine,
    /// Linear decay per step to zero at the run's last step, as Hugging Face's
    /// get_linear_schedule_with_warmup.
    Linear,
    /// Cosine annealing per step: lr · (1 + cos(π (s − W) / (S − W))) / 2.
    CosineStep,
    /// lr multiplied by --lr-gamma at each epoch of --lr-milestones (MultiStepLR).
    Step,
}

/// Everything that sets one step's rate.
#[derive(Clone, Debug, PartialEq)]
pub struct LrPlan {
    /// The base rate.
    pub lr: f32,
    /// The schedule after warm-up.
    pub schedule: LrSchedule,
    /// Warm-up steps W (0: none).
    pub warmup: usize,
    /// The run's total steps S.
    pub total: usize,
    /// The run's epochs E.
    pub epochs: usize,
    /// The epochs at which `step` multiplies the rate by `gamma`.
    pub milestones: Vec<usize>,
    /// `step`'s factor.
    pub gamma: f32,
}

impl LrPlan {
    /// The rate of step `s` (steps taken before it), in epoch `epoch` (0-based).
    pub fn rate(&self, s: usize, epoch: usize) -> f32 {
        let lr = self.lr as f64;
        let w = self.warmup;
        if s < w {
            return (lr * (s + 1) as f64 / w as f64) as f32;
        }
        // Steps after warm-up, and how many there are (at least one).
        let (after, span) = ((s - w) as f64, self.total.saturating_sub(w).max(1) as f64);
        let rate = match self.schedule {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine => {
                let t = epoch as f64 / self.epochs.max(1) as f64;
                lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
            LrSchedule::Linear => lr * ((span - after) / span).max(0.0),
            LrSchedule::CosineStep => {
                let t = (after / span).min(1.0);
                lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
            LrSchedule::Step => {
                let passed = self.milestones.iter().filter(|&&m| m <= epoch).count();
                lr * (self.gamma as f64).powi(passed as i32)
            }
        };
        rate as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(schedule: LrSchedule, warmup: usize) -> LrPlan {
        LrPlan {
            lr: 1.0,
            schedule,
            warmup,
            total: 10,
            epochs: 4,
            milestones: vec![1, 3],
            gamma: 0.2,
        }
    }

    #[test]
    fn warm_up_then_each_schedule_follows_its_closed_form() {
        // Warm-up: lr·(s+1)/W for s < W.
        let p = plan(LrSchedule::Linear, 4);
        let warm: Vec<f32> = (0..4).map(|s| p.rate(s, 0)).collect();
        assert_eq!(warm, [0.25, 0.5, 0.75, 1.0]);
        // Linear: lr·(S − s)/(S − W): 1 at s = W, 1/6 at the last step.
        assert_eq!(p.rate(4, 0), 1.0);
        assert!((p.rate(9, 0) - 1.0 / 6.0).abs() < 1e-7);
        // Hugging Face's linear schedule without warm-up: 1 − s/S.
        let hf = plan(LrSchedule::Linear, 0);
        assert!((hf.rate(3, 0) - 0.7).abs() < 1e-7);
        // Cosine per step: half way after warm-up it is lr/2.
        let c = plan(LrSchedule::CosineStep, 2);
        assert!((c.rate(6, 0) - 0.5).abs() < 1e-7);
        assert_eq!(c.rate(2, 0), 1.0);
        // Step: γ at each milestone epoch passed.
        let st = plan(LrSchedule::Step, 0);
        let per_epoch: Vec<f32> = (0..4).map(|e| st.rate(0, e)).collect();
        assert!((per_epoch[1] - 0.2).abs() < 1e-7 && (per_epoch[3] - 0.04).abs() < 1e-7);
        assert_eq!(per_epoch[0], 1.0);
        // Cosine per epoch keeps its meaning: epoch 2 of 4 is lr/2.
        assert!((plan(LrSchedule::Cosine, 0).rate(0, 2) - 0.5).abs() < 1e-7);
    }
}
