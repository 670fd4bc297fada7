//! `--val-split N`: N training examples, drawn by the seed, held out as a validation set. Each
//! epoch evaluates it beside the test set; the parameters (and running statistics) of the
//! epoch with the best validation accuracy go to `best.safetensors`, and the run reports the
//! test accuracy at that epoch beside the last epoch's, as the official SAMPa code does.

use super::checkpoint;
use super::run_dir::RunDir;
use crate::data::{BatchOptions, Dataset, Splits};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::model_info::ModelInfo;
use crate::rng::Pcg;
use crate::train::Trainer;

/// The generator stream of the split.
const SPLIT_STREAM: u64 = 0x5a11d;

/// Move `n` training examples, chosen by `seed`, into `splits.val` (the rest keep their order).
pub fn split(splits: &mut Splits, n: usize, seed: u64) -> Result<()> {
    let total = splits.train.len();
    if n >= total {
        return Err(Error::Invalid(format!(
            "--val-split must be smaller than the {total} training examples (after \
             --train-limit), got {n}"
        )));
    }
    let mut order: Vec<usize> = (0..total).collect();
    Pcg::new(seed, SPLIT_STREAM).shuffle(&mut order);
    let mut held = vec![false; total];
    for &i in &order[..n] {
        held[i] = true;
    }
    let pick = |keep: bool| -> Dataset {
        let chosen: Vec<usize> = (0..total).filter(|&i| held[i] != keep).collect();
        splits.train.select(&chosen)
    };
    let (val, train) = (pick(false), pick(true));
    splits.val = Some(val);
    splits.train = train;
    Ok(())
}

/// Evaluate the validation set after an epoch: print it, add it to the epoch's record (the
/// last of `records`), and write `best.safetensors` when it beats every earlier epoch.
pub(super) fn after_epoch(
    gpu: &Gpu,
    (trainer, val, opts): (&mut Trainer, &Dataset, &BatchOptions),
    (dir, info): (&RunDir, &ModelInfo),
    records: &mut [serde_json::Value],
) -> Result<()> {
    let best_before = best(records);
    let scores = gpu.block_on(trainer.evaluate_async(gpu, val, opts))?;
    let (loss, acc) = (scores.loss, scores.accuracy);
    crate::outln!(
        "           validation loss {loss:.4}  validation acc {:.2}%",
        100.0 * acc
    );
    let last = records.last_mut().expect("the epoch's record");
    last["val_loss"] = loss.into();
    last["val_accuracy"] = acc.into();
    if best_before.is_none_or(|b| acc > b.val_acc) {
        let state = trainer.state(gpu)?;
        let model = &trainer.spec().model;
        let weights = (&state.x[..], &state.model_state[..]);
        checkpoint::save(model, weights, info, &dir.file("best.safetensors"))?;
    }
    Ok(())
}

/// The epoch with the best validation accuracy (the first of equals).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Best {
    /// The epoch (1-based).
    pub epoch: usize,
    /// Its validation accuracy.
    pub val_acc: f64,
    /// Its test accuracy.
    pub test_acc: f64,
}

/// The best epoch among `records` (metrics.jsonl's epoch records), if any has a validation
/// accuracy.
pub fn best(records: &[serde_json::Value]) -> Option<Best> {
    let mut best: Option<Best> = None;
    for r in records.iter().filter(|r| r["kind"] == "epoch") {
        let (Some(val_acc), Some(test_acc)) =
            (r["val_accuracy"].as_f64(), r["test_accuracy"].as_f64())
        else {
            continue;
        };
        if best.is_none_or(|b| val_acc > b.val_acc) {
            let epoch = r["epoch"].as_u64().unwrap_or(0) as usize;
            best = Some(Best {
                epoch,
                val_acc,
                test_acc,
            });
        }
    }
    best
}
