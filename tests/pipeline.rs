#![cfg(not(target_arch = "wasm32"))]
//! The pipelined step driver computes what waiting after every step computes: the same
//! reports (loss, correct count, ‖x‖²) for every step, in order and one step late, and the
//! same parameters, optimizer state and BatchNorm running statistics, bit for bit, under every
//! schedule; a checkpoint or an evaluation taken with a step in flight sees that step.

mod common;
use common::{gpus, kernels, random_batch, residual_hyper, trainer};
use sampa::data::Batch;
use sampa::nn::Model;
use sampa::optim::{OptimizerConfig, OptimizerKind};
use sampa::rng::Pcg;
use sampa::train::schedule::thread::ThreadTransport;
use sampa::train::{Placement, StepReport, Trainer};

const STEPS: usize = 6;

/// A residual network with BatchNorm: its running statistics are read back one step late.
fn model() -> Model {
    Model::resnet(8, 3, 8, 8, 4).unwrap()
}

/// Batches of 8, one of 5 (the fused pair then runs serially for a step).
fn batches(m: &Model) -> Vec<Batch> {
    let mut rng = Pcg::new(11, 0);
    let size = |t| if t == 3 { 5 } else { 8 };
    (0..STEPS)
        .map(|t| random_batch(&mut rng, size(t), m.input, m.classes))
        .collect()
}

fn sampa_trainer(gpu: &sampa::Gpu, placement: Placement) -> Trainer {
    let m = model();
    let config = OptimizerConfig {
        kind: OptimizerKind::Sampa,
        ..Default::default()
    };
    let mut t = trainer(gpu, &m, 0.1, &m.init(5), config, 0);
    t.set_placement(gpu, placement).unwrap();
    t
}

fn placements(gpu: &sampa::Gpu) -> Vec<(&'static str, Placement)> {
    let how = (model(), 0.1, kernels(gpu));
    let dual = ThreadTransport::spawn_failing_at(gpu.clone(), how, None).unwrap();
    vec![
        ("serial", Placement::Serial),
        ("interleaved", Placement::Interleaved),
        ("fused", Placement::Fused),
        ("dual", Placement::Dual(Box::new(dual))),
    ]
}

/// Each step waited for: submitted, then read back before the next is submitted.
fn waited(gpu: &sampa::Gpu, t: &mut Trainer, data: &[Batch]) -> Vec<StepReport> {
    let mut reports = Vec::new();
    for b in data {
        assert!(t.submit(gpu, b, residual_hyper()).unwrap().is_none());
        reports.push(t.finish(gpu).unwrap().expect("the step just submitted"));
    }
    reports
}

/// The steps pipelined as training runs them: each submission returns the report of the step
/// before it; the last comes from `finish`.
fn pipelined(gpu: &sampa::Gpu, t: &mut Trainer, data: &[Batch]) -> Vec<StepReport> {
    let mut reports = Vec::new();
    for (i, b) in data.iter().enumerate() {
        let before = t.submit(gpu, b, residual_hyper()).unwrap();
        assert_eq!(before.is_some(), i > 0, "step {}: {before:?}", i + 1);
        reports.extend(before);
        assert_eq!(t.steps(), i + 1);
    }
    reports.extend(t.finish(gpu).unwrap());
    assert_eq!(t.finish(gpu).unwrap(), None, "every report was returned");
    reports
}

#[test]
fn a_pipelined_run_equals_one_that_waits_after_every_step_under_every_schedule() {
    let gpus = gpus();
    let gpu = &gpus[0];
    let data = batches(&model());
    let (a, b) = (placements(gpu), placements(gpu));
    for ((name, waiting), (_, piped)) in a.into_iter().zip(b) {
        let mut w = sampa_trainer(gpu, waiting);
        let mut p = sampa_trainer(gpu, piped);
        let want = waited(gpu, &mut w, &data);
        let got = pipelined(gpu, &mut p, &data);
        // Bit for bit: the f32 values compared by their bits.
        let bits = |r: &[StepReport]| {
            r.iter()
                .map(|r| {
                    (
                        r.step,
                        r.loss.to_bits(),
                        r.correct.to_bits(),
                        r.norm_sq.to_bits(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&got), bits(&want), "{name}: the reports");
        assert!(want.iter().all(|r| r.loss.is_finite() && r.norm_sq > 0.0));
        assert_eq!(
            p.state(gpu).unwrap(),
            w.state(gpu).unwrap(),
            "{name}: the state"
        );
    }
}

#[test]
fn a_checkpoint_or_an_evaluation_with_a_step_in_flight_sees_that_step() {
    let gpus = gpus();
    let gpu = &gpus[0];
    let data = batches(&model());
    let mut w = sampa_trainer(gpu, Placement::Serial);
    let mut p = sampa_trainer(gpu, Placement::Serial);
    let want = waited(gpu, &mut w, &data[..3]);
    for b in &data[..3] {
        p.submit(gpu, b, residual_hyper()).unwrap();
    }
    // Step 3 is in flight: the state read now folds its batch statistics in.
    assert_eq!(p.state(gpu).unwrap(), w.state(gpu).unwrap());
    assert_eq!(
        p.loss(gpu, &data[4]).unwrap().map(f32::to_bits),
        w.loss(gpu, &data[4]).unwrap().map(f32::to_bits),
        "an evaluation normalises with the running statistics after step 3"
    );
    // Its report was kept, not lost: the next submission returns it.
    let third = p.submit(gpu, &data[3], residual_hyper()).unwrap();
    assert_eq!(third, Some(want[2]));
    assert_eq!(p.finish(gpu).unwrap().map(|r| r.step), Some(4));
}
