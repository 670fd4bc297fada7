//! What a [`super::Session`] reports: each epoch's summary, each finished run's figures, and
//! the events of an advance, serialised as JSON for the browser page.

use serde::Serialize;

/// One epoch's summary (also a native run's, in `metrics.jsonl` and `curves.png`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct EpochPoint {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training accuracy over the epoch.
    pub train_acc: f64,
    /// Test loss.
    pub test_loss: f64,
    /// Test accuracy.
    pub test_acc: f64,
    /// Test top-5 accuracy, for more than 5 classes.
    #[serde(default)]
    pub test_top5: Option<f64>,
}

impl EpochPoint {
    /// Epoch `epoch`'s (0-based) summary from its training sums (loss × examples, correct
    /// predictions, examples) and its test scores.
    pub fn of(
        epoch: usize,
        (loss_sum, correct, seen): (f64, usize, usize),
        test: crate::train::Scores,
    ) -> Self {
        let n = seen.max(1) as f64;
        EpochPoint {
            epoch: epoch + 1,
            train_loss: loss_sum / n,
            train_acc: correct as f64 / n,
            test_loss: test.loss,
            test_acc: test.accuracy,
            test_top5: test.top5,
        }
    }
}

/// What one optimizer's finished run reports.
#[derive(Clone, Debug, Serialize)]
pub struct Finished {
    /// `sgd`, `sam`, `sampa-0.2`, ...
    pub optimizer: String,
    /// The optimizer with its options.
    pub label: String,
    /// The schedule its steps ran under.
    pub schedule: String,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Gradient evaluations per step, and how many of them run one after another.
    pub grads: usize,
    /// Gradient evaluations of a step that wait for each other.
    pub depth: usize,
    /// Wall-clock milliseconds per step (the step and its readback, no evaluation), over the
    /// steps after the first, which also waits for any kernel still compiling.
    pub ms_per_step: f64,
    /// Training examples per second of that step time.
    pub examples_per_s: f64,
    /// Every epoch's summary; the last one's test figures are the run's.
    pub epochs: Vec<EpochPoint>,
    /// The trained parameters.
    #[serde(skip)]
    pub params: Vec<f32>,
}

/// What an [`super::Session::advance`] did, in order.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Event {
    /// Run `run` (its optimizer's index) began; `measured` holds the milliseconds per step
    /// of each schedule when `auto` chose by measuring.
    Started {
        /// The run's index in the settings' optimizers.
        run: usize,
        /// Its optimizer's id.
        optimizer: String,
        /// The schedule it runs under.
        schedule: String,
        /// (schedule, ms per step) of `auto`'s measurement.
        measured: Vec<(String, f64)>,
    },
    /// One step.
    Step {
        /// The run's index.
        run: usize,
        /// Steps taken so far by this run.
        step: usize,
        /// The epoch (1-based).
        epoch: usize,
        /// The step's batch's mean loss.
        loss: f32,
        /// Its fraction predicted right.
        accuracy: f32,
    },
    /// An epoch ended and was evaluated.
    Epoch {
        /// The run's index.
        run: usize,
        /// The epoch's figures.
        result: EpochPoint,
        /// The predicted class of each of the first [`super::GRID`] test images.
        predicted: Vec<u32>,
    },
    /// The run ended; [`super::Session::finished`] has its figures.
    Finished {
        /// The run's index.
        run: usize,
    },
}
