#![cfg(not(target_arch = "wasm32"))]
//! DenseNets as kuangliu/pytorch-cifar's `densenet.py` builds them: the `state_dict`s of
//! `DenseNet121()` and `densenet_cifar()` (names, shapes and dtypes, from a fixture PyTorch
//! wrote), the GPU's loss and gradient against the f64 reference on both adapters, the f64
//! gradient against finite differences, and SAM's and SAMPa's trajectories under every
//! schedule.

mod common;
use common::state_dict::{fixture, written};
use common::{
    assert_sampled_gradient, check_evaluator, check_evaluator_with, check_layers, gpus, kernels,
};
use sampa::kernels::Kernels;
use sampa::kernels::matmul::Variant;
use sampa::nn::Model;
use sampa::nn::densenets::DenseSpec;
use sampa::optim::OptimizerKind;
use sampa::rng::Pcg;
use sampa::train::schedule::thread::ThreadTransport;
use sampa::train::{Placement, Schedule};

#[test]
fn written_densenets_have_kuangliu_state_dict_names_shapes_dtypes_and_sizes() {
    for kind in ["densenet121", "densenet-cifar"] {
        let (params, want) = fixture(kind);
        assert_eq!(want.len(), 722, "{kind}: the fixture lists every tensor");
        let m = named(kind, (3, 32, 32), 10);
        assert_eq!(m.param_count(), params, "{kind}");
        assert_eq!(written(&m), want, "{kind}");
    }
}

#[test]
fn densenets_need_images_of_8_by_8_and_a_known_name() {
    let spec = DenseSpec::named("densenet-cifar").unwrap();
    let err = Model::densenet(&spec, "densenet-cifar", (3, 7, 32), 10).unwrap_err();
    let err = err.to_string();
    assert!(err.contains("8×8") && err.contains("--image-size"), "{err}");
    let err = DenseSpec::named("densenet169").unwrap_err().to_string();
    assert!(
        err.contains("densenet121") && err.contains("densenet-cifar"),
        "{err}"
    );
}

/// A small DenseNet with every part of the big ones: two blocks of growth 4 (two bottlenecks,
/// then one) with a transition between them.
fn small(shape: (usize, usize, usize), classes: usize) -> Model {
    let spec = DenseSpec {
        growth: 4,
        blocks: vec![2, 1],
    };
    Model::densenet(&spec, "densenet-small", shape, classes).unwrap()
}

fn named(kind: &str, shape: (usize, usize, usize), classes: usize) -> Model {
    Model::densenet(&DenseSpec::named(kind).unwrap(), kind, shape, classes).unwrap()
}

#[test]
fn gpu_small_densenet_matches_cpu_reference() {
    let m = small((3, 8, 8), 5);
    for gpu in &gpus() {
        check_evaluator(gpu, &m, 4);
        // im2col with the tiled products, and the implicit convolutions.
        let tiled = Kernels::uniform(Variant::Tiled, kernels(gpu).vectors);
        check_evaluator_with(gpu, &m, 3, tiled);
        let register = Kernels::uniform(Variant::Register, kernels(gpu).vectors);
        check_evaluator_with(gpu, &m, 3, register);
    }
}

#[test]
fn densenet_gradient_matches_finite_differences_on_sampled_coordinates() {
    let model = small((3, 8, 8), 4);
    let mut rng = Pcg::new(21, 0);
    let params: Vec<f64> = model.init(5).iter().map(|&v| v as f64).collect();
    let inputs: Vec<f64> = (0..2 * 3 * 64).map(|_| rng.normal() as f64).collect();
    assert_sampled_gradient(&model, &params, (&inputs, 0), 1e-5);
}

/// Layer by layer on the GPU's own inputs: end to end, 120 BatchNorm-ReLUs put some
/// activation within f32 rounding of 0, where the f32 and f64 ReLUs decide differently.
#[test]
fn gpu_densenet_cifar_and_densenet121_match_cpu_reference_layer_by_layer() {
    for gpu in &gpus() {
        check_layers(gpu, &named("densenet-cifar", (3, 16, 16), 10), 2);
        check_layers(gpu, &named("densenet121", (3, 16, 16), 10), 2);
    }
}

/// [`common::three_steps`] on the model these tests train.
fn trajectory(
    gpu: &sampa::Gpu,
    kind: OptimizerKind,
    placement: Placement,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Schedule) {
    common::three_steps(
        gpu,
        &named("densenet-cifar", (3, 8, 8), 10),
        kind,
        placement,
    )
}

/// SAMPa-0.2's two gradients fused into one pass and on a worker give serial's trajectory
/// bit for bit; SAM, whose gradients depend on each other, runs serially whatever is asked.
#[test]
fn sam_and_sampa_on_densenet_cifar_take_one_trajectory_under_every_schedule() {
    for gpu in &gpus() {
        let serial = trajectory(gpu, OptimizerKind::Sampa, Placement::Serial);
        let fused = trajectory(gpu, OptimizerKind::Sampa, Placement::Fused);
        assert_eq!(fused.3, Schedule::Fused);
        assert!(
            fused
                == (
                    serial.0.clone(),
                    serial.1.clone(),
                    serial.2.clone(),
                    Schedule::Fused
                )
        );
        if gpu.adapter.backend == "Vulkan" {
            let m = named("densenet-cifar", (3, 8, 8), 10);
            let worker = ThreadTransport::spawn(gpu.clone(), m, 0.1, kernels(gpu)).unwrap();
            let dual = trajectory(gpu, OptimizerKind::Sampa, Placement::Dual(Box::new(worker)));
            assert_eq!(dual.3, Schedule::Dual);
            assert!(
                dual.0 == serial.0 && dual.1 == serial.1 && dual.2 == serial.2,
                "dual"
            );
        }
        let sam = trajectory(gpu, OptimizerKind::Sam, Placement::Serial);
        let sam_fused = trajectory(gpu, OptimizerKind::Sam, Placement::Fused);
        assert_eq!(sam_fused.3, Schedule::Serial);
        assert!(sam_fused == sam, "{}: SAM", gpu.adapter.short());
        assert!(sam.0 != serial.0, "SAM and SAMPa take different steps");
    }
}
