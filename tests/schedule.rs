#![cfg(not(target_arch = "wasm32"))]
//! Every schedule of SAMPa's two gradients gives serial's trajectory: bit for bit on one
//! adapter, within a stated tolerance across two; a failing worker hands its work back. With
//! m-sharpness too, whose groups pair 4 with 1 around the short batch.

mod common;
use common::{gpus, kernels, trainer};
use sampa::data::Batch;
use sampa::kernels::sgd::SgdHyper;
use sampa::nn::Model;
use sampa::optim::{OptimizerConfig, OptimizerKind};
use sampa::rng::Pcg;
use sampa::train::schedule::thread::ThreadTransport;
use sampa::train::{Placement, Schedule};

const STEPS: usize = 8;

fn model() -> Model {
    Model::mlp(784, &[64, 32], 10).unwrap()
}

fn batches(m: &Model) -> Vec<Batch> {
    let mut rng = Pcg::new(4, 0);
    (0..STEPS)
        .map(|t| {
            let n = if t == 5 { 7 } else { 32 };
            Batch {
                pixels: rng.vec(n * m.input, 0.0, 1.0),
                labels: (0..n).map(|_| rng.below(10)).collect(),
                drawn: Vec::new(),
            }
        })
        .collect()
}

/// The hyper-parameters of step `step` (0-based). The rate changes once, as at an epoch's end:
/// the step after the change recomputes SAMPa's look-ahead, which the others take from the
/// last update.
fn hyper(step: usize) -> SgdHyper {
    SgdHyper {
        lr: if step < 4 { 0.05 } else { 0.03 },
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov: false,
    }
}

/// SAMPa-0.2, with m-sharpness's group size `m` if given.
fn sampa(m: Option<usize>) -> OptimizerConfig {
    OptimizerConfig {
        kind: OptimizerKind::Sampa,
        m_sharpness: m,
        ..Default::default()
    }
}

/// Parameters and reported losses after `STEPS` SAMPa-0.2 steps under `placement`.
fn run(gpu: &sampa::Gpu, placement: Placement) -> (Vec<f32>, Vec<f32>) {
    run_model(gpu, (&model(), sampa(None)), placement)
}

fn run_model(
    gpu: &sampa::Gpu,
    (m, config): (&Model, OptimizerConfig),
    placement: Placement,
) -> (Vec<f32>, Vec<f32>) {
    let fused = matches!(placement, Placement::Fused);
    let mut t = trainer(gpu, m, 0.1, &m.init(2), config, 0);
    t.set_placement(gpu, placement).unwrap();
    let losses = batches(m)
        .iter()
        .enumerate()
        .map(|(i, b)| t.step(gpu, b, hyper(i)).unwrap()[0])
        .collect();
    assert_eq!(t.steps(), STEPS);
    // Steps 5 and 6 pair a batch of 7 with one of 32 and run serially; the rest fuse (with
    // m-sharpness, group 0's sizes differ there, and the other groups have one pass).
    assert_eq!(t.fused_steps(), if fused { STEPS - 2 } else { 0 });
    (gpu.read(t.params()).unwrap(), losses)
}

/// The dual schedule with the worker on `gpu` (a second handle when it is the main device),
/// failing at step `fail_at` if given.
fn worker(gpu: &sampa::Gpu, fail_at: Option<usize>) -> Placement {
    let how = (model(), 0.1, kernels(gpu));
    let t = ThreadTransport::spawn_failing_at(gpu.clone(), how, fail_at).unwrap();
    Placement::Dual(Box::new(t))
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    let d = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    d as f64 / scale
}

#[test]
fn interleaved_fused_and_dual_on_one_adapter_equal_serial_bit_for_bit() {
    for gpu in &gpus() {
        for config in [sampa(None), sampa(Some(8))] {
            let run = |p| run_model(gpu, (&model(), config), p);
            let name = format!("{}: {}", gpu.adapter.short(), config.label());
            let serial = run(Placement::Serial);
            let interleaved = run(Placement::Interleaved);
            assert!(interleaved == serial, "{name}: interleaved differs");
            let fused = run(Placement::Fused);
            assert!(fused == serial, "{name}: fused differs");
            if gpu.adapter.backend == "Vulkan" {
                // The worker on a second handle of the same device: the same kernels compute
                // g_n, so only the trip through host memory is new.
                let dual = run(worker(gpu, None));
                assert!(dual == serial, "{name}: dual on one device differs");
            }
        }
    }
}

#[test]
fn dual_across_two_adapters_stays_within_tolerance_of_serial() {
    let list = gpus();
    let (Some(main), Some(other)) = (
        list.iter().find(|g| g.adapter.backend == "Vulkan"),
        list.iter().find(|g| g.adapter.backend == "Gl"),
    ) else {
        panic!(
            "this test needs a Vulkan and a GL adapter: apt-get install mesa-vulkan-drivers \
             libegl-mesa0 (and do not restrict SAMPA_ADAPTER)"
        );
    };
    let serial = run(main, Placement::Serial);
    let dual = run(main, worker(other, None));
    let d = max_rel_diff(&dual.0, &serial.0);
    eprintln!(
        "dual ({} + {}) vs serial after {STEPS} steps: max |diff| / max|x| = {d:.2e}",
        main.adapter.short(),
        other.adapter.short()
    );
    // Two adapters may round sums differently; 1e-5 of the largest parameter is far above
    // f32 rounding over 8 steps and far below any data-path slip (a stale g_n or y moves
    // parameters by 1e-3 and more).
    assert!(d <= 1e-5, "{d:.2e}");
}

#[test]
fn a_failing_worker_hands_over_and_no_step_is_lost() {
    let list = gpus();
    let main = list
        .iter()
        .find(|g| g.adapter.backend == "Vulkan")
        .expect("a Vulkan adapter: apt-get install mesa-vulkan-drivers");
    for (config, fail_at) in [(sampa(None), 1), (sampa(None), 4), (sampa(Some(8)), 4)] {
        let m = model();
        let serial = run_model(main, (&m, config), Placement::Serial);
        let mut t = trainer(main, &m, 0.1, &m.init(2), config, 0);
        t.set_placement(main, worker(main, Some(fail_at))).unwrap();
        for (i, b) in batches(&m).iter().enumerate() {
            t.step(main, b, hyper(i)).unwrap();
        }
        assert_eq!(t.steps(), STEPS);
        assert_eq!(t.schedule(), Schedule::Interleaved);
        // Same device for the worker's steps, so the whole trajectory is serial's.
        assert!(
            main.read(t.params()).unwrap() == serial.0,
            "failure at step {fail_at}: the trajectory changed"
        );
    }
}

#[test]
fn fused_cnn_equals_serial_bit_for_bit() {
    // Every layer kind (convolution, fused ReLU and pooling, flatten) in replicated form.
    let m = Model::cnn(1, 28, 28, 10).unwrap();
    for gpu in &gpus() {
        let serial = run_model(gpu, (&m, sampa(None)), Placement::Serial);
        let fused = run_model(gpu, (&m, sampa(None)), Placement::Fused);
        assert!(
            fused == serial,
            "{}: fused CNN differs",
            gpu.adapter.short()
        );
    }
}
