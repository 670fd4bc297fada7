#![cfg(not(target_arch = "wasm32"))]
//! torchvision's ImageNet ResNets: the `state_dict`s of `resnet18`, `resnet34` and `resnet50`
//! (names, shapes, dtypes and parameter counts, from fixtures torchvision wrote), their
//! initialisation, the GPU's loss and gradients against the f64 reference on both adapters,
//! the f64 gradients against finite differences, and SAMPa's trajectory under every schedule.

mod common;
use common::state_dict::{fixture, written};
use common::{assert_directional_gradient, check_layers, gpus, kernels};
use sampa::nn::Model;
use sampa::optim::OptimizerKind;
use sampa::rng::Pcg;
use sampa::train::schedule::thread::ThreadTransport;
use sampa::train::{Placement, Schedule};

fn resnet(depth: usize, side: usize) -> Model {
    Model::torchvision_resnet(depth, (3, side, side), 10).unwrap()
}

/// The small size of the numeric checks: 32×16 images in batches of 4, so that the last
/// stage's BatchNorms (at 1×1) normalise over 4 values. Over 2, each BatchNorm output is ±1
/// unless the two values lie within √ε of each other, where its slope reaches 1/√ε: the loss
/// is then too ill-conditioned for f32 or finite differences to follow.
fn small(depth: usize) -> Model {
    Model::torchvision_resnet(depth, (3, 64, 16), 10).unwrap()
}

#[test]
fn written_torchvision_resnets_have_torchvisions_names_shapes_dtypes_and_sizes() {
    for depth in [18, 34, 50] {
        let (params, want) = fixture(&format!("resnet{depth}"));
        let m = resnet(depth, 32);
        assert_eq!(m.param_count(), params, "resnet{depth}");
        assert_eq!(written(&m), want, "resnet{depth}");
    }
    // torchvision's counts with ImageNet's 1000 classes (its model cards).
    let imagenet = |d| Model::torchvision_resnet(d, (3, 224, 224), 1000).unwrap();
    assert_eq!(imagenet(18).param_count(), 11_689_512);
    assert_eq!(imagenet(50).param_count(), 25_557_032);
    let shapes = imagenet(50).shapes();
    assert_eq!(
        shapes[1..4].iter().map(|a| a.len()).collect::<Vec<_>>(),
        [64 * 112 * 112, 64 * 112 * 112, 64 * 56 * 56],
        "the 7×7 stride-2 stem, then the 3×3 stride-2 pool"
    );
}

/// std of the tensor `name` in `x`.
fn std_of(m: &Model, x: &[f32], name: &str) -> f64 {
    let p = m.param(name).unwrap();
    let v = &x[p.offset..p.offset + p.len()];
    (v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

#[test]
fn initialisation_follows_torchvision_and_zero_init_residual_zeroes_the_last_norms() {
    let m = resnet(50, 32);
    let x = m.init(3);
    // kaiming_normal_(mode="fan_out"): √(2 / (out channels × k × k)).
    for (name, fan_out) in [
        ("conv1.weight", 64 * 49),
        ("layer1.0.conv1.weight", 64),
        ("layer3.2.conv2.weight", 256 * 9),
        ("layer4.0.downsample.0.weight", 2048),
    ] {
        let (got, want) = (std_of(&m, &x, name), (2.0 / fan_out as f64).sqrt());
        assert!(
            (got / want - 1.0).abs() < 0.05,
            "{name}: std {got} vs {want}"
        );
    }
    let fc = m.param("fc.weight").unwrap();
    let bound = 1.0 / 2048f32.sqrt();
    assert!(
        x[fc.offset..fc.offset + fc.len()]
            .iter()
            .all(|v| v.abs() <= bound)
    );
    let ones = |m: &Model, x: &[f32], name: &str| {
        let p = m.param(name).unwrap();
        x[p.offset..p.offset + p.len()].iter().all(|&v| v == 1.0)
    };
    assert!(ones(&m, &x, "layer2.1.bn3.weight"));
    let zeros = |m: &Model, x: &[f32], name: &str| {
        let p = m.param(name).unwrap();
        x[p.offset..p.offset + p.len()].iter().all(|&v| v == 0.0)
    };
    let z = m.clone().with_zero_init_residual().unwrap();
    let zx = z.init(3);
    for name in ["layer1.0.bn3.weight", "layer4.2.bn3.weight"] {
        assert!(zeros(&z, &zx, name), "{name}");
    }
    assert!(ones(&z, &zx, "layer1.0.bn2.weight") && ones(&z, &zx, "layer2.0.downsample.1.weight"));
    let z18 = resnet(18, 32).with_zero_init_residual().unwrap();
    let zx18 = z18.init(3);
    assert!(zeros(&z18, &zx18, "layer3.1.bn2.weight") && ones(&z18, &zx18, "layer3.1.bn1.weight"));
    let e = Model::resnet(20, 3, 32, 32, 10)
        .unwrap()
        .with_zero_init_residual()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--zero-init-residual") && e.contains("resnet18"),
        "{e}"
    );
}

#[test]
fn model_names_choose_torchvision_or_cifar_resnets_and_small_images_are_refused() {
    let shape = sampa::data::ImageShape {
        channels: 3,
        height: 32,
        width: 32,
    };
    let built = |kind| Model::for_images(kind, &[], shape, 10).unwrap();
    assert!(built("resnet18").param("layer4.1.bn2.weight").is_some());
    assert!(built("resnet50").param("layer4.2.conv3.weight").is_some());
    assert!(
        built("resnet20").param("linear.weight").is_some(),
        "CIFAR's"
    );
    let e = Model::torchvision_resnet(18, (3, 8, 8), 10)
        .unwrap_err()
        .to_string();
    assert!(e.contains("16×16") && e.contains("--image-size"), "{e}");
    let e = Model::torchvision_resnet(19, (3, 32, 32), 10)
        .unwrap_err()
        .to_string();
    assert!(e.contains("resnet34") && e.contains("resnet152"), "{e}");
}

/// Layer by layer on the GPU's own inputs, as the DenseNets: end to end, twenty BatchNorms
/// over 4 to 64 values each carry f32's rounding up to about 1e-4 of each gradient's scale
/// (measured alike in every tensor on both adapters, so not one layer's error).
#[test]
fn gpu_resnet18_and_resnet50_match_the_f64_reference() {
    for gpu in &gpus() {
        check_layers(gpu, &small(18), 4);
        check_layers(gpu, &small(50), 4);
    }
}

/// The f64 gradient along directions on sampled coordinates of tensors across the network: the stem, the
/// first block, a downsample's convolution and BatchNorm; then a middle block, the last
/// block's last BatchNorm and the classifier.
fn gradient_matches_finite_differences(depth: usize, last: &str) {
    let model = Model::torchvision_resnet(depth, (3, 32, 16), 10).unwrap();
    let mut rng = Pcg::new(23, 0);
    let inputs: Vec<f64> = (0..4 * model.input).map(|_| rng.normal() as f64).collect();
    let params: Vec<f64> = model.init(5).iter().map(|&v| v as f64).collect();
    let (lw, lb) = (format!("{last}.weight"), format!("{last}.bias"));
    let early = [
        "conv1.weight",
        "bn1.weight",
        "layer1.0.conv1.weight",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.bias",
    ];
    let late = ["layer3.1.conv2.weight", &lw, &lb, "fc.weight", "fc.bias"];
    // A small step: at this size the loss curves sharply along the early direction (ResNet-50's
    // slope there is −488), and the central difference converges to the gradient only as the
    // step shrinks: 33 % off at 1e-5, 1.4 % at 1e-7, 2e-7 at 1e-8, where f64's rounding of a
    // loss near 2.3 still costs only about 1e-8 of slope.
    assert_directional_gradient(&model, &params, &inputs, 1e-8, &[&early, &late]);
}

#[test]
fn resnet18_gradient_matches_finite_differences_on_sampled_coordinates() {
    gradient_matches_finite_differences(18, "layer4.1.bn2");
}

#[test]
fn resnet50_gradient_matches_finite_differences_on_sampled_coordinates() {
    gradient_matches_finite_differences(50, "layer4.2.bn3");
}

/// At 32×32 the last stage is 1×1, so a training pass over one example would give its
/// BatchNorms one value per channel: refused before the step, naming the first such layer.
/// Evaluation of one example runs (`tests/resnet_cli.rs` evaluates classes of one image).
#[test]
fn training_refuses_a_pass_with_one_value_per_channel() {
    let m = resnet(18, 32);
    let e = m.check_training_batch(1).unwrap_err().to_string();
    assert!(
        e.starts_with("layer4.0.bn1:") && e.contains("raise --batch") && e.contains("512 channels"),
        "{e}"
    );
    m.check_training_batch(2).unwrap();
    resnet(18, 64).check_training_batch(1).unwrap();
}

/// [`common::three_steps`] on the model these tests train.
fn trajectory(
    gpu: &sampa::Gpu,
    kind: OptimizerKind,
    placement: Placement,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Schedule) {
    common::three_steps(
        gpu,
        &Model::torchvision_resnet(18, (3, 32, 16), 10).unwrap(),
        kind,
        placement,
    )
}

/// SAMPa-0.2's two gradients fused into one pass (two replicas of every buffer, the windowed
/// max pool's winners too) and on a worker give serial's trajectory bit for bit.
#[test]
fn sampa_on_resnet18_takes_one_trajectory_under_every_schedule() {
    for gpu in &gpus() {
        let serial = trajectory(gpu, OptimizerKind::Sampa, Placement::Serial);
        let fused = trajectory(gpu, OptimizerKind::Sampa, Placement::Fused);
        assert_eq!(fused.3, Schedule::Fused);
        assert!(
            (&fused.0, &fused.1, &fused.2) == (&serial.0, &serial.1, &serial.2),
            "{}: fused",
            gpu.adapter.short()
        );
        if gpu.adapter.backend == "Vulkan" {
            let m = Model::torchvision_resnet(18, (3, 32, 16), 10).unwrap();
            let worker = ThreadTransport::spawn(gpu.clone(), m, 0.1, kernels(gpu)).unwrap();
            let dual = trajectory(gpu, OptimizerKind::Sampa, Placement::Dual(Box::new(worker)));
            assert_eq!(dual.3, Schedule::Dual);
            assert!(
                dual.0 == serial.0 && dual.1 == serial.1 && dual.2 == serial.2,
                "dual"
            );
        }
        assert!(serial.2.iter().all(|l| l.is_finite()));
    }
}
