//! Where a model's BatchNorms are: each one's channels, the pixels it normalises over, and its
//! running statistics in the state vector, and the update of those from a pass's batch
//! statistics.

use super::layer::Act;
use super::model::Model;

/// One BatchNorm of a model: see [`Model::norm_sites`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormSite {
    /// Channels.
    pub c: usize,
    /// Pixels per example.
    pub hw: usize,
    /// Where its running mean starts in the state vector.
    pub state: usize,
}

impl Model {
    /// The trainable tensors of the normalisation layers (BatchNorm's weight and bias): those
    /// of a module that keeps running statistics, as PyTorch names them (`bn1.weight` beside
    /// `bn1.running_mean`).
    pub fn norm_params(&self) -> Vec<&super::Param> {
        let modules: std::collections::BTreeSet<&str> = self
            .state
            .iter()
            .filter_map(|s| s.name.strip_suffix(".running_mean"))
            .collect();
        self.params
            .iter()
            .filter(|p| {
                p.name
                    .rsplit_once('.')
                    .is_some_and(|(module, _)| modules.contains(module))
            })
            .collect()
    }

    /// 1 on every element of [`Model::norm_params`] in the parameter vector, 0 elsewhere.
    pub fn norm_mask(&self) -> Vec<f32> {
        let mut mask = vec![0.0; self.param_count()];
        for p in self.norm_params() {
            mask[p.offset..p.offset + p.len()].fill(1.0);
        }
        mask
    }

    /// Every BatchNorm of the model (inside blocks too) in the order of its state tensors:
    /// its channels, the pixels per example it normalises over, and where its running mean
    /// starts in the state vector (its running variance and batch count follow).
    pub fn norm_sites(&self) -> Vec<NormSite> {
        let shapes = self.shapes();
        let mut starts = self
            .state
            .iter()
            .filter(|p| p.name.ends_with("running_mean"))
            .map(|p| p.offset);
        let mut sites = Vec::new();
        for (k, layer) in self.layers.iter().enumerate() {
            for shape in layer.norm_shapes(shapes[k]) {
                let Act::Image(c, h, w) = shape else {
                    unreachable!("BatchNorm normalises images")
                };
                let state = starts.next().expect("one running mean per BatchNorm");
                sites.push(NormSite {
                    c,
                    hw: h * w,
                    state,
                });
            }
        }
        sites
    }

    /// An error unless a training pass over `examples` examples gives every BatchNorm at
    /// least 2 values per channel: with one, its batch variance is 0 and the running
    /// variance's m/(m − 1) divides by zero, so PyTorch refuses it too ("Expected more than 1
    /// value per channel when training").
    pub fn check_training_batch(&self, examples: usize) -> crate::Result<()> {
        let Some(site) = self.norm_sites().into_iter().find(|s| examples * s.hw < 2) else {
            return Ok(());
        };
        let name = self
            .state
            .iter()
            .find(|p| p.offset == site.state)
            .and_then(|p| p.name.strip_suffix(".running_mean"))
            .unwrap_or("a BatchNorm");
        Err(crate::Error::Invalid(format!(
            "{name}: a training pass over {examples} example(s) gives this BatchNorm 1 value per \
             channel ({} channels at 1×1), and training needs at least 2, as in PyTorch: raise \
             --batch (and --m-sharpness), pick a batch size that leaves no last batch of 1, or \
             enlarge the images (--image-size)",
            site.c
        )))
    }

    /// Fold one pass's batch statistics (`Plan::batch_stats_len` values: per BatchNorm its
    /// mean and biased variance) over `batch` examples into the running statistics in
    /// `state`, as PyTorch's training-mode forward does.
    pub fn update_running(&self, state: &mut [f32], stats: &[f32], batch: usize) {
        let mut at = 0;
        for site in self.norm_sites() {
            let (mean, var) = (
                &stats[at..at + site.c],
                &stats[at + site.c..at + 2 * site.c],
            );
            let running = &mut state[site.state..site.state + 2 * site.c + 1];
            crate::kernels::batchnorm::running_update(running, (mean, var), batch * site.hw);
            at += 2 * site.c;
        }
    }
}
