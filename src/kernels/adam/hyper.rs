//! The hyper-parameters of one Adam or AdamW step, which the kernels and their references take.

/// Adam hyper-parameters for one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamHyper {
    /// Learning rate.
    pub lr: f32,
    /// β1 and β2: the decay rates of the first and second moments.
    pub betas: [f32; 2],
    /// Added to the second moment's root, for stability.
    pub eps: f32,
    /// Weight decay: added to the gradient (Adam) or applied to x directly (AdamW).
    pub weight_decay: f32,
    /// AdamW's decoupled weight decay, x·(1 − lr·wd) before the update.
    pub decoupled: bool,
}

impl AdamHyper {
    /// The AdamW step the benchmarks time: the paper's fine-tuning rate and weight decay.
    pub const TIMED: AdamHyper = AdamHyper {
        lr: 1e-3,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.05,
        decoupled: true,
    };

    /// Step `t`'s (counted from 1) bias corrections as the kernel takes them, computed in f64
    /// as PyTorch computes them in Python floats: lr / (1 − β1^t) and √(1 − β2^t).
    pub fn corrections(&self, t: usize) -> (f32, f32) {
        let t = t.max(1) as i32;
        let bc1 = 1.0 - (self.betas[0] as f64).powi(t);
        let bc2 = 1.0 - (self.betas[1] as f64).powi(t);
        ((self.lr as f64 / bc1) as f32, bc2.sqrt() as f32)
    }
}
