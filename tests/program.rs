#![cfg(not(target_arch = "wasm32"))]
//! Optimizer programs: what each one's passes are and how they group into stages (which is
//! what the schedules place and what the metrics count), and the recorder's rewrites, which
//! must change no bit of a trajectory.

mod common;
use common::{gpus, kernels};
use sampa::nn::Model;
use sampa::optim::program::Vector;
use sampa::optim::{LookaheadMode, OptimizerConfig, OptimizerKind, program};
use sampa::train::{Placement, Trainer, TrainerSpec, parity};

#[test]
fn every_program_has_the_papers_evaluations_and_depth() {
    use OptimizerKind::*;
    // (kind, gradient evaluations, sequential depth, reported pass, carried vectors)
    let want = [
        (Sgd, 1, 1, "x", vec![]),
        (Sam, 2, 2, "x", vec![]),
        (Sampa, 2, 1, "y", vec![Vector::GY]),
        (RandSam, 1, 1, "x~", vec![]),
        (OptSam, 1, 1, "x~", vec![Vector::G]),
        (SamDb, 2, 2, "x~", vec![]),
    ];
    for (kind, grads, depth, reports, carries) in want {
        let p = program(&OptimizerConfig {
            kind,
            ..Default::default()
        });
        assert_eq!((p.grads(), p.depth()), (grads, depth), "{kind:?}");
        assert_eq!((p.reports, &p.carries), (reports, &carries), "{kind:?}");
        assert!(
            p.pass_index(p.reports).is_some(),
            "{kind:?} reports a pass it has"
        );
        assert_eq!(
            p.uses_previous_batch(),
            matches!(kind, Sampa | SamDb),
            "{kind:?}"
        );
    }
    let sampa = program(&OptimizerConfig {
        kind: Sampa,
        ..Default::default()
    });
    assert_eq!(
        sampa.stages(),
        vec![vec![0, 1]],
        "SAMPa's two passes form one stage"
    );
}

#[test]
fn the_look_ahead_rewrite_changes_no_bit() {
    // SAMPa's update writes the next look-ahead point when the recorder rewrites the program;
    // without the rewrite the look-ahead runs every step. The learning rate drops every fifth
    // step, so the rewritten run both reuses and recomputes the point.
    let model = Model::mlp(24, &[16, 12], 4).unwrap();
    let batches = parity::batches(&model, 16);
    for gpu in &gpus() {
        for lookahead in [LookaheadMode::Code, LookaheadMode::Paper] {
            let run = |rewrite: bool, placement: Placement| {
                let spec = TrainerSpec {
                    model: model.clone(),
                    smoothing: 0.1,
                    optimizer: OptimizerConfig {
                        kind: OptimizerKind::Sampa,
                        lookahead,
                        ..Default::default()
                    },
                    seed: 0,
                    kernels: kernels(gpu),
                };
                let mut t = Trainer::with_rewrites(gpu, spec, &model.init(4), rewrite).unwrap();
                t.set_placement(gpu, placement).unwrap();
                let losses: Vec<f32> = (0..batches.len())
                    .map(|i| t.step(gpu, &batches[i], parity::hyper(false, i)).unwrap()[0])
                    .collect();
                (gpu.read(t.params()).unwrap(), losses)
            };
            let plain = run(false, Placement::Serial);
            for placement in [Placement::Serial, Placement::Fused] {
                let name = placement.name();
                assert!(
                    run(true, placement) == plain,
                    "{} {lookahead:?} {name}: the rewrite changed the trajectory",
                    gpu.adapter.short()
                );
            }
        }
    }
}
