//! A training session over data in memory: several optimizers on the same model, data and
//! seed, trained one after another, a few steps at a time, as futures. The browser page
//! (`web/train.html`) drives one, awaiting each [`Session::advance`] so that the page stays
//! responsive, and draws the [`Event`]s it returns. It trains exactly as `sampa train` does
//! (the same batches, initialisation, hyper-parameters, step and test evaluation), which a
//! native test checks bit for bit; checkpoints, run directories and the progress bar stay
//! native.

mod events;
pub mod settings;

use crate::clock::now;
use crate::data::{Batch, BatchOptions, Batcher, Splits};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::nn::Model;
use crate::optim::OptimizerConfig;
use crate::train::{Placement, Schedule, StepReport, Trainer, TrainerSpec};
pub use events::{EpochPoint, Event, Finished};
pub use settings::Settings;

/// Test images whose predicted classes each epoch's [`Event::Epoch`] carries.
pub const GRID: usize = 24;

/// The optimizer being trained and where it stands.
struct Running {
    index: usize,
    trainer: Trainer,
    schedule: String,
    epoch: usize,
    position: usize,
    augment: (u64, u64),
    loss_sum: f64,
    correct: usize,
    seen: usize,
    /// Seconds and examples of the steps after the first.
    step_seconds: f64,
    examples: usize,
    epochs: Vec<EpochPoint>,
    /// The host buffer of the batches, reused from advance to advance.
    batch: Batch,
}

impl Running {
    /// Take in the report `r` of a step on `n` examples: stop a diverged run, add the step
    /// to the epoch's statistics, and say so.
    fn account(&mut self, r: StepReport, n: usize) -> Result<Event> {
        if let Some(what) = r.divergence() {
            return Err(Error::Invalid(format!(
                "{what} at step {}; stopped. Try a smaller lr",
                r.step
            )));
        }
        self.loss_sum += r.loss as f64 * n as f64;
        self.correct += r.correct as usize;
        self.seen += n;
        Ok(Event::Step {
            run: self.index,
            step: r.step,
            epoch: self.epoch + 1,
            loss: r.loss,
            accuracy: r.correct / n as f32,
        })
    }
}

/// Every optimizer of a [`Settings`] trained in turn on one data set.
pub struct Session {
    settings: Settings,
    model: Model,
    splits: Splits,
    opts: BatchOptions,
    kernels: Kernels,
    /// `auto`'s choice, once measured (every SAMPa run of the session reuses it).
    auto: Option<Schedule>,
    current: Option<Running>,
    finished: Vec<Finished>,
}

impl Session {
    /// A session of `settings` on `splits`, its kernels in the forms `kernels`.
    pub fn new(settings: Settings, splits: Splits, kernels: Kernels) -> Result<Session> {
        let model = Model::for_splits(&settings.model, &settings.hidden, &splits)?;
        let opts = BatchOptions {
            batch: settings.batch,
            shuffle: true,
            seed: settings.seed,
            normalize: None,
            augment: false,
            cutout: false,
            imagenet: false,
        };
        Ok(Session {
            settings,
            model,
            splits,
            opts,
            kernels,
            auto: None,
            current: None,
            finished: Vec::new(),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The model trained.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// What a model file of this session's model says about it.
    pub fn model_info(&self) -> crate::nn::model_info::ModelInfo {
        let s = &self.settings;
        crate::nn::model_info::ModelInfo::of(&s.model, &s.hidden, &self.splits, &self.opts)
    }

    /// The data.
    pub fn splits(&self) -> &Splits {
        &self.splits
    }

    /// The runs finished so far, in order.
    pub fn finished(&self) -> &[Finished] {
        &self.finished
    }

    /// Whether every optimizer has finished.
    pub fn done(&self) -> bool {
        self.finished.len() == self.settings.optimizers.len()
    }

    /// Check, before anything is allocated, that the model fits `gpu` and the host at the
    /// session's batch (twice over where SAMPa may run fused, whose buffers hold both
    /// parameter sets); the error says what does not fit.
    pub fn check_fits(&self, gpu: &Gpu) -> Result<()> {
        let pair = self.settings.optimizers.iter().any(has_pair);
        let copies = crate::train::fits::copies(self.settings.schedule, pair);
        let carried = self
            .settings
            .optimizers
            .iter()
            .map(|o| carried(o, self.settings.batch))
            .max()
            .unwrap_or(0);
        crate::train::fits::check_fits(gpu, &self.model, self.settings.batch, copies, carried)
    }

    /// Take up to `max_steps` steps of the current optimizer (starting the next one first if
    /// none is running: a start is an advance of its own, since `auto` may measure), evaluate
    /// at an epoch's end, and finish a run after its last epoch.
    pub async fn advance(&mut self, gpu: &Gpu, max_steps: usize) -> Result<Vec<Event>> {
        if self.current.is_none() {
            if self.done() {
                return Ok(Vec::new());
            }
            return Ok(vec![self.start(gpu).await?]);
        }
        let mut events = Vec::new();
        let run = self.current.as_mut().expect("checked above");
        let train = &self.splits.train;
        let mut batches = Batcher::resume(
            train,
            self.opts.clone(),
            run.epoch as u64,
            run.position,
            run.augment,
        );
        let mut batch = std::mem::take(&mut run.batch);
        // The steps are pipelined (see `train::step`): a step's report arrives when the next
        // one is submitted, and the last with `finish_async`. `waiting` holds the batch size
        // of the step in flight.
        let mut waiting = None;
        for _ in 0..max_steps {
            if !batches.next_into(&mut batch)? {
                break;
            }
            let started = now();
            let report = run
                .trainer
                .submit_async(gpu, &batch, self.settings.hyper())
                .await?;
            let timed = run.trainer.steps() > 1;
            if timed {
                run.step_seconds += now() - started;
                run.examples += batch.len();
            }
            let before = waiting.replace(batch.len());
            if let (Some(r), Some(n)) = (report, before) {
                events.push(run.account(r, n)?);
            }
        }
        let started = now();
        let last = run.trainer.finish_async().await?;
        if run.trainer.steps() > 1 {
            run.step_seconds += now() - started;
        }
        if let (Some(r), Some(n)) = (last, waiting) {
            events.push(run.account(r, n)?);
        }
        (run.position, run.augment) = batches.position();
        run.batch = batch;
        if run.position >= train.len() {
            events.extend(self.end_epoch(gpu).await?);
        }
        Ok(events)
    }

    /// Begin the next optimizer's run from the seeded initialisation.
    async fn start(&mut self, gpu: &Gpu) -> Result<Event> {
        let index = self.finished.len();
        let optimizer = self.settings.optimizers[index];
        let spec = TrainerSpec {
            model: self.model.clone(),
            smoothing: 0.0,
            optimizer,
            seed: self.settings.seed,
            kernels: self.kernels,
        };
        let mut trainer = Trainer::new(gpu, spec, &self.model.init(self.settings.seed))?;
        let measured = self.choose_schedule(gpu, &optimizer).await?;
        let schedule = if has_pair(&optimizer) {
            self.auto.unwrap_or(self.settings.schedule)
        } else {
            Schedule::Serial
        };
        trainer.set_placement(gpu, placement(schedule))?;
        let first = Batcher::new(&self.splits.train, self.opts.clone(), 0);
        trainer.set_run_steps(self.settings.epochs * first.batches());
        self.current = Some(Running {
            index,
            trainer,
            schedule: schedule.name().to_string(),
            epoch: 0,
            position: 0,
            augment: first.position().1,
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            step_seconds: 0.0,
            examples: 0,
            epochs: Vec::new(),
            batch: Batch::default(),
        });
        Ok(Event::Started {
            run: index,
            optimizer: settings::id(&optimizer),
            schedule: schedule.name().to_string(),
            measured,
        })
    }

    /// `auto`'s choice among the single-adapter schedules for `optimizer`, measured side by
    /// side on throwaway trainers the first time a program with a pair asks (a few steps of
    /// each; every schedule computes the same bits, so only speed differs).
    async fn choose_schedule(
        &mut self,
        gpu: &Gpu,
        optimizer: &OptimizerConfig,
    ) -> Result<Vec<(String, f64)>> {
        if self.settings.schedule != Schedule::Auto || self.auto.is_some() || !has_pair(optimizer) {
            return Ok(Vec::new());
        }
        let choices = [Schedule::Serial, Schedule::Interleaved, Schedule::Fused];
        let cases = choices
            .iter()
            .map(|s| (*optimizer, placement(*s)))
            .collect();
        let model = (&self.model, self.kernels);
        let ms =
            super::timed::steps_side_by_side(gpu, model, self.settings.batch, 1, cases).await?;
        let best = (0..choices.len())
            .min_by(|&a, &b| ms[a].total_cmp(&ms[b]))
            .expect("three schedules");
        self.auto = Some(choices[best]);
        Ok(choices
            .iter()
            .zip(ms)
            .map(|(s, ms)| (s.name().to_string(), ms))
            .collect())
    }

    /// Evaluate the current run at its epoch's end; finish it after its last epoch.
    async fn end_epoch(&mut self, gpu: &Gpu) -> Result<Vec<Event>> {
        let run = self.current.as_mut().expect("a run is in progress");
        let test = &self.splits.test;
        let scores = run.trainer.evaluate_async(gpu, test, &self.opts).await?;
        let predicted = run
            .trainer
            .predict_async(gpu, &grid_batch(test, &self.opts)?)
            .await?;
        let sums = (run.loss_sum, run.correct, run.seen);
        let result = EpochPoint::of(run.epoch, sums, scores);
        run.epochs.push(result.clone());
        run.epoch += 1;
        let next = Batcher::new(&self.splits.train, self.opts.clone(), run.epoch as u64);
        (run.position, run.augment) = next.position();
        (run.loss_sum, run.correct, run.seen) = (0.0, 0, 0);
        let mut events = vec![Event::Epoch {
            run: run.index,
            result,
            predicted,
        }];
        if run.epoch == self.settings.epochs {
            let run = self.current.take().expect("a run is in progress");
            let program = run.trainer.program();
            let steps = run.trainer.steps();
            self.finished.push(Finished {
                optimizer: settings::id(&run.trainer.spec().optimizer),
                label: run.trainer.spec().optimizer.label(),
                schedule: run.schedule.clone(),
                steps,
                grads: program.grads(),
                depth: program.depth(),
                ms_per_step: 1e3 * run.step_seconds / steps.saturating_sub(1).max(1) as f64,
                examples_per_s: run.examples as f64 / run.step_seconds.max(1e-9),
                params: gpu.read_async(run.trainer.params()).await?,
                epochs: run.epochs,
            });
            events.push(Event::Finished { run: run.index });
        }
        Ok(events)
    }
}

/// The first [`GRID`] images of `test` as one batch, formed as the evaluation forms them.
fn grid_batch(test: &crate::data::Dataset, opts: &BatchOptions) -> Result<Batch> {
    let mut batch = Batch::default();
    Batcher::new(test, super::evaluate::in_order(opts, GRID), 0).next_into(&mut batch)?;
    Ok(batch)
}

/// Compile the kernels the first optimizer of a session of `settings` on `model` will use,
/// by one step under each schedule it may run (on 4 synthetic examples: what compiles does
/// not depend on the batch). The browser page calls it while its data loads, so that its first
/// training step waits less for a software adapter's compiler. Later optimizers compile their
/// own kernels in their first step, which their step times leave out, rather than compete
/// with the first optimizer's steps.
pub async fn warm_up(
    gpu: &Gpu,
    settings: &Settings,
    model: &Model,
    kernels: Kernels,
) -> Result<()> {
    let batch = model.synthetic_batch(4);
    for o in settings.optimizers.iter().take(1) {
        let schedules: &[Schedule] = match (has_pair(o), settings.schedule) {
            (false, _) => &[Schedule::Serial],
            (true, Schedule::Auto) => &[Schedule::Serial, Schedule::Interleaved, Schedule::Fused],
            (true, s) => &[s],
        };
        for s in schedules {
            let mut t = Trainer::seeded(gpu, (model, kernels), *o, placement(*s))?;
            t.step_async(gpu, &batch, settings.hyper()).await?;
            t.predict_async(gpu, &batch).await?;
        }
    }
    Ok(())
}

/// Vectors `o` carries from step to step at `batch`: its program's, and with SAMPa and
/// m-sharpness each group's g_y.
fn carried(o: &OptimizerConfig, batch: usize) -> usize {
    let program = crate::optim::program(o);
    let groups = match (program.grouped, program.has_pair()) {
        (Some(m), true) => batch.div_ceil(m),
        _ => 0,
    };
    program.carries.len() + groups
}

fn has_pair(o: &OptimizerConfig) -> bool {
    crate::optim::program(o).has_pair()
}

fn placement(s: Schedule) -> Placement {
    match s {
        Schedule::Interleaved => Placement::Interleaved,
        Schedule::Fused => Placement::Fused,
        _ => Placement::Serial,
    }
}
