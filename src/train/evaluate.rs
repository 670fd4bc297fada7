//! Evaluating a trainer's parameters without a step: the mean loss and accuracies over a
//! whole data set (each epoch's test evaluation, natively and in the browser) and the
//! predicted classes of a batch (the browser page's grid of test images).

use super::trainer::Trainer;
use crate::data::{Batch, BatchOptions, Batcher, Dataset};
use crate::error::Result;
use crate::gpu::{Gpu, Readback};
use crate::kernels::mse;
use crate::nn::Model;
use crate::nn::evaluator::Evaluator;

/// A data set's mean loss and accuracies at some parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    /// Mean loss.
    pub loss: f64,
    /// The fraction whose first arg-max is the label (top-1 accuracy); 0 for a regression.
    pub accuracy: f64,
    /// The fraction where fewer than 5 classes score higher than the label (top-5 accuracy),
    /// for models of more than 5 classes.
    pub top5: Option<f64>,
}

impl Trainer {
    /// Mean loss and accuracies over `data` at the current parameters, in batches formed by
    /// `opts` (in file order: evaluation neither shuffles nor augments).
    pub async fn evaluate_async(
        &mut self,
        gpu: &Gpu,
        data: &Dataset,
        opts: &BatchOptions,
    ) -> Result<Scores> {
        self.scores_async(gpu, data, opts, None).await
    }

    /// [`Trainer::evaluate_async`], and the prediction for each example in order (for metrics
    /// beyond accuracy, such as GLUE's), laid out as the data set's labels are: a class, or a
    /// regression's score as its f32 bits. Each batch's outputs are read back too.
    pub async fn evaluate_predicting_async(
        &mut self,
        gpu: &Gpu,
        data: &Dataset,
        opts: &BatchOptions,
    ) -> Result<(Scores, Vec<u32>)> {
        let mut predicted = Vec::with_capacity(data.len());
        let scores = self
            .scores_async(gpu, data, opts, Some(&mut predicted))
            .await?;
        Ok((scores, predicted))
    }

    async fn scores_async(
        &mut self,
        gpu: &Gpu,
        data: &Dataset,
        opts: &BatchOptions,
        mut predicted: Option<&mut Vec<u32>>,
    ) -> Result<Scores> {
        let mut batches = Batcher::new(data, in_order(opts, opts.batch), 0);
        let mut batch = Batch::default();
        let (mut loss, mut correct, mut top5) = (0.0f64, 0usize, 0usize);
        // With predictions, each batch's outputs come back in the metrics' readback.
        let outputs = predicted
            .is_some()
            .then(|| self.outputs_readback(gpu, opts.batch));
        while batches.next_into(&mut batch)? {
            let (m, out) = self.batch_async(gpu, &batch, outputs.as_ref()).await?;
            loss += m[0] as f64 * batch.len() as f64;
            correct += m[1] as usize;
            top5 += m[2] as usize;
            if let Some(p) = predicted.as_deref_mut() {
                p.extend(predictions(&self.spec.model, &out));
            }
        }
        let n = data.len().max(1) as f64;
        Ok(Scores {
            loss: loss / n,
            accuracy: correct as f64 / n,
            top5: (self.spec.model.classes > 5).then_some(top5 as f64 / n),
        })
    }

    /// `[mean loss, correct count, top-5 count]` of `batch` at x, without a gradient. A step still in
    /// flight is read back first (its report is kept), since evaluation normalises with the
    /// running statistics it updates.
    pub async fn loss_async(&mut self, gpu: &Gpu, batch: &Batch) -> Result<[f32; 3]> {
        Ok(self.batch_async(gpu, batch, None).await?.0)
    }

    /// A staging buffer for the metrics and the outputs of up to `batch` examples.
    fn outputs_readback(&self, gpu: &Gpu, batch: usize) -> Readback {
        Readback::new(gpu, OUTPUTS_AT + batch * self.spec.model.classes)
    }

    /// [`Trainer::loss_async`], and with `outputs` (room for the batch's outputs after
    /// [`OUTPUTS_AT`] values) the model's outputs too, `batch × classes` values read back
    /// with the metrics in one wait; empty without.
    async fn batch_async(
        &mut self,
        gpu: &Gpu,
        batch: &Batch,
        outputs: Option<&Readback>,
    ) -> Result<([f32; 3], Vec<f32>)> {
        self.settle_async().await?;
        let (i, copy) = self.evaluation;
        let x = self.params().clone();
        let e = &mut self.rec.evaluators[i];
        let point = e.params().clone();
        let plan = e.load(gpu, batch)?;
        if !plan.norms.is_empty() {
            plan.write_eval_stats(gpu, &self.spec.model, &self.model_state)?;
        }
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        if copy && !self.x_in_point {
            // The pass's point is rebuilt by every step before it is read, so x can be
            // evaluated there; one copy serves every batch until the next step.
            encoder.copy_buffer_to_buffer(&x.buffer, 0, &point.buffer, 0, x.bytes());
            self.x_in_point = true;
        }
        Evaluator::record_loss(plan, &mut encoder);
        let n = batch.len() * self.spec.model.classes;
        // Only the metrics (and the outputs) are copied: the step's ‖x‖² partial sums are not
        // read here.
        let (readback, count) = match outputs {
            Some(r) => {
                r.record_part(&mut encoder, &plan.logits, 0, n, OUTPUTS_AT);
                (r, OUTPUTS_AT + n)
            }
            None => (&self.readbacks[self.slot], 3),
        };
        readback.record_part(&mut encoder, &plan.metrics, 0, 3, 0);
        let index = gpu.checked("evaluation", || gpu.submit(encoder.finish()))?;
        let m = readback.read_first_after(count, index).await?;
        let out = m.get(OUTPUTS_AT..count).unwrap_or_default().to_vec();
        Ok(([m[0], m[1], m[2]], out))
    }

    /// Blocking [`Trainer::loss_async`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn loss(&mut self, gpu: &Gpu, batch: &Batch) -> Result<[f32; 3]> {
        gpu.block_on(self.loss_async(gpu, batch))
    }

    /// The class the model predicts for each example of `batch` (the largest logit; the
    /// first of equal ones) at the current parameters; a regression's score as the bits its
    /// targets travel in.
    pub async fn predict_async(&mut self, gpu: &Gpu, batch: &Batch) -> Result<Vec<u32>> {
        let outputs = self.outputs_readback(gpu, batch.len());
        let (_, out) = self.batch_async(gpu, batch, Some(&outputs)).await?;
        Ok(predictions(&self.spec.model, &out))
    }
}

/// Where a batch's outputs start in an outputs readback: after the 3 metrics and one spare
/// value, so they start 16 bytes in, as the metrics buffer's replicas do.
const OUTPUTS_AT: usize = 4;

/// The predictions in `model`'s outputs `out` (`classes` values per example): each one's
/// class, or a regression's score as the bits its targets travel in.
fn predictions(model: &Model, out: &[f32]) -> Vec<u32> {
    if model.regression() {
        return out.iter().map(|&s| mse::target_bits(s)).collect();
    }
    out.chunks(model.classes).map(argmax).collect()
}

/// `opts` for evaluation: `batch` examples at a time, in file order, without augmentation.
pub(crate) fn in_order(opts: &BatchOptions, batch: usize) -> BatchOptions {
    BatchOptions {
        batch,
        shuffle: false,
        augment: false,
        cutout: false,
        imagenet: false,
        ..opts.clone()
    }
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best as u32
}
