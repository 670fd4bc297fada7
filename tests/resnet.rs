#![cfg(not(target_arch = "wasm32"))]
//! The CIFAR ResNets: their layout against akamaster's `resnet.py`, the whole network's f64
//! gradient against finite differences, and the GPU evaluator against the f64 reference.

mod common;

use common::state_dict::{batchnorm, written};
use common::{assert_sampled_gradient, check_evaluator, check_evaluator_with, gpus, kernels};
use sampa::kernels::Kernels;
use sampa::kernels::matmul::Variant;
use sampa::nn::Model;
use sampa::rng::Pcg;

/// `resnet.py`'s `state_dict` keys for ResNet-20's parameters (its buffers, the running
/// statistics, are the state vector's).
fn akamaster_resnet20_parameter_names() -> Vec<String> {
    let mut names = vec![
        "conv1.weight".to_string(),
        "bn1.weight".into(),
        "bn1.bias".into(),
    ];
    for stage in 1..=3 {
        for i in 0..3 {
            for part in ["conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight"] {
                names.push(format!("layer{stage}.{i}.{part}"));
            }
            names.push(format!("layer{stage}.{i}.bn2.weight"));
            names.push(format!("layer{stage}.{i}.bn2.bias"));
        }
    }
    names.extend(["linear.weight".into(), "linear.bias".into()]);
    names
}

#[test]
fn resnet20_layout_follows_akamaster() {
    let m = Model::resnet(20, 3, 32, 32, 10).unwrap();
    let names: Vec<String> = m.params.iter().map(|p| p.name.clone()).collect();
    assert_eq!(names, akamaster_resnet20_parameter_names());
    // resnet.py's count for ResNet-20 on CIFAR-10 (its README rounds it to 0.27M).
    assert_eq!(m.param_count(), 269_722);
    assert_eq!(
        m.param("layer2.0.conv1.weight").unwrap().shape,
        [32, 16, 3, 3]
    );
    assert_eq!(m.param("linear.weight").unwrap().shape, [10, 64]);
    let state: Vec<&str> = m.state.iter().take(4).map(|p| p.name.as_str()).collect();
    assert_eq!(
        state,
        [
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.num_batches_tracked",
            "layer1.0.bn1.running_mean"
        ]
    );
    assert_eq!(m.state.len(), 19 * 3);
    let s = m.init_state();
    let var = m
        .state
        .iter()
        .find(|p| p.name == "layer3.2.bn2.running_var")
        .unwrap();
    assert!(s[var.offset..var.offset + 64].iter().all(|&v| v == 1.0));
    assert_eq!(s.iter().sum::<f32>(), (16 * 7 + 32 * 6 + 64 * 6) as f32);
    // kaiming_normal_: standard deviation √(2/fan_in) on conv weights; γ = 1, β = 0.
    let x = m.init(3);
    let w = m.param("layer3.1.conv2.weight").unwrap();
    let v = &x[w.offset..w.offset + w.len()];
    let std = (v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let want = (2.0f64 / (64.0 * 9.0)).sqrt();
    assert!((std / want - 1.0).abs() < 0.03, "std {std} vs {want}");
    let g = m.param("layer1.0.bn2.weight").unwrap();
    assert!(
        x[g.offset..g.offset + 32]
            .iter()
            .enumerate()
            .all(|(i, &v)| v == if i < 16 { 1.0 } else { 0.0 })
    );
    for bad in [21, 2, 0] {
        let e = Model::resnet(bad, 3, 32, 32, 10).unwrap_err().to_string();
        assert!(e.contains("6n+2") && e.contains("20, 26, 32"), "{e}");
    }
}

#[test]
fn resnet_gradient_matches_finite_differences_on_sampled_coordinates() {
    let model = Model::resnet(20, 3, 8, 8, 4).unwrap();
    let mut rng = Pcg::new(21, 0);
    let params: Vec<f64> = model.init(5).iter().map(|&v| v as f64).collect();
    let inputs: Vec<f64> = (0..2 * 3 * 64).map(|_| rng.normal() as f64).collect();
    assert_sampled_gradient(&model, &params, (&inputs, 0), 1e-5);
}

#[test]
fn gpu_resnet20_matches_cpu_reference() {
    for gpu in &gpus() {
        check_evaluator(gpu, &Model::resnet(20, 1, 28, 28, 10).unwrap(), 8);
        check_evaluator(gpu, &Model::resnet(20, 3, 32, 32, 10).unwrap(), 8);
    }
}

/// The tiled products run convolutions through im2col, strided and without bias here.
#[test]
fn gpu_resnet_with_tiled_products_matches_cpu_reference() {
    for gpu in &gpus() {
        let tiled = Kernels::uniform(Variant::Tiled, kernels(gpu).vectors);
        check_evaluator_with(gpu, &Model::resnet(8, 3, 12, 10, 5).unwrap(), 4, tiled);
    }
}

/// Kernels that mix variants by shape class (as tuning chooses them per adapter) still meet
/// the f64 reference: an MLP whose weight gradients are long sums on the tiled products and
/// whose other products are register-blocked, and a ResNet whose convolutions run im2col with
/// tiled products while its classifier stays register-blocked, and the reverse.
#[test]
fn kernels_mixed_by_shape_class_match_the_cpu_reference() {
    use sampa::kernels::ShapeClass;
    let mlp = Model::mlp(16, &[8], 4).unwrap();
    // At batch 128 the hidden layer's weight gradient (8×16, summed over 128 rows) is a long
    // sum, its forward an MLP-sized product.
    let dims = |m, n, k| sampa::kernels::matmul::Dims { m, n, k };
    assert_eq!(ShapeClass::of(dims(8, 16, 128)), ShapeClass::LongK);
    assert_eq!(ShapeClass::of(dims(128, 8, 16)), ShapeClass::Mlp);
    let resnet = Model::resnet(8, 3, 12, 10, 5).unwrap();
    for gpu in &gpus() {
        let vectors = kernels(gpu).vectors;
        let mut long_tiled = Kernels::uniform(Variant::Register, vectors);
        long_tiled.long_k = Some(Variant::Tiled);
        check_evaluator_with(gpu, &mlp, 128, long_tiled);
        let mut conv_tiled = Kernels::uniform(Variant::Register8, vectors);
        conv_tiled.conv = Some(Variant::Tiled);
        check_evaluator_with(gpu, &resnet, 4, conv_tiled);
        let mut conv_reg = Kernels::uniform(Variant::Tiled, vectors);
        conv_reg.conv = Some(Variant::Register);
        check_evaluator_with(gpu, &resnet, 4, conv_reg);
    }
}

/// `resnet.py`'s whole `state_dict` for ResNet-20: parameters, then each BatchNorm's
/// buffers, with shapes and dtypes as PyTorch saves them.
fn akamaster_resnet20_state_dict(classes: usize) -> Vec<(String, Vec<usize>, &'static str)> {
    let mut v = Vec::new();
    let mut bn = |prefix: &str, c: usize| v.extend(batchnorm(prefix, c));
    bn("bn1", 16);
    let mut convs = vec![("conv1.weight".to_string(), vec![16, 3, 3, 3], "F32")];
    let mut cin = 16;
    for stage in 1..=3 {
        let c = 16 << (stage - 1);
        for i in 0..3 {
            let p = format!("layer{stage}.{i}");
            convs.push((format!("{p}.conv1.weight"), vec![c, cin, 3, 3], "F32"));
            convs.push((format!("{p}.conv2.weight"), vec![c, c, 3, 3], "F32"));
            bn(&format!("{p}.bn1"), c);
            bn(&format!("{p}.bn2"), c);
            cin = c;
        }
    }
    v.extend(convs);
    v.push(("linear.weight".into(), vec![classes, 64], "F32"));
    v.push(("linear.bias".into(), vec![classes], "F32"));
    v.sort();
    v
}

#[test]
fn a_written_resnet20_file_has_pytorchs_state_dict_names_shapes_and_dtypes() {
    let m = Model::resnet(20, 3, 32, 32, 10).unwrap();
    assert_eq!(written(&m), akamaster_resnet20_state_dict(10));
}

/// davda54's `wide_res_net.py` `state_dict` for WRN-`depth`-`width` on 3 channels: the stem,
/// per stage a DownsampleUnit and (depth − 4)/6 BasicUnits, the last BatchNorm, the classifier.
fn davda54_wrn_state_dict(
    depth: usize,
    width: usize,
    classes: usize,
) -> Vec<(String, Vec<usize>, &'static str)> {
    let mut v = vec![(
        "f.0_convolution.weight".to_string(),
        vec![16, 3, 3, 3],
        "F32",
    )];
    let bn = |v: &mut Vec<(String, Vec<usize>, &'static str)>, prefix: String, c: usize| {
        v.extend(batchnorm(&prefix, c));
    };
    // A 3×3 convolution (1×1 for `downsample`) from `cin` to `c` channels, without a bias.
    let conv = |v: &mut Vec<(String, Vec<usize>, &'static str)>, name: String, c, cin, k| {
        v.push((format!("{name}.weight"), vec![c, cin, k, k], "F32"));
    };
    let mut cin = 16;
    for stage in 1..=3 {
        let c = (16 << (stage - 1)) * width;
        let p = format!("f.{stage}_block.block.0");
        bn(&mut v, format!("{p}.norm_act.0_normalization"), cin);
        conv(&mut v, format!("{p}.block.0_convolution"), c, cin, 3);
        bn(&mut v, format!("{p}.block.1_normalization"), c);
        conv(&mut v, format!("{p}.block.4_convolution"), c, c, 3);
        conv(&mut v, format!("{p}.downsample"), c, cin, 1);
        for i in 1..=(depth - 4) / 6 {
            let p = format!("f.{stage}_block.block.{i}");
            bn(&mut v, format!("{p}.block.0_normalization"), c);
            conv(&mut v, format!("{p}.block.2_convolution"), c, c, 3);
            bn(&mut v, format!("{p}.block.3_normalization"), c);
            conv(&mut v, format!("{p}.block.6_convolution"), c, c, 3);
        }
        cin = c;
    }
    bn(&mut v, "f.4_normalization".into(), cin);
    v.push((
        "f.8_classification.weight".into(),
        vec![classes, cin],
        "F32",
    ));
    v.push(("f.8_classification.bias".into(), vec![classes], "F32"));
    v.sort();
    v
}

#[test]
fn a_written_wrn_16_4_file_has_davda54s_state_dict_names_shapes_and_dtypes() {
    let m = Model::wrn(16, 4, (3, 32, 32), 10).unwrap();
    assert_eq!(written(&m), davda54_wrn_state_dict(16, 4, 10));
    // The classifier starts at zero, as davda54's _initialize sets it.
    let x = m.init(1);
    let w = m.param("f.8_classification.weight").unwrap();
    assert!(x[w.offset..w.offset + w.len()].iter().all(|&v| v == 0.0));
    for bad in ["wrn-16-0", "wrn-15-4", "wrn-16", "wrn-a-4"] {
        let e = sampa::nn::resnets::wrn_size(bad).unwrap_err().to_string();
        assert!(e.contains(bad) || e.contains("wrn-DEPTH-WIDTH"), "{e}");
    }
}

#[test]
fn gpu_wide_resnet_matches_cpu_reference() {
    for gpu in &gpus() {
        check_evaluator(gpu, &Model::wrn(10, 1, (3, 8, 8), 5).unwrap(), 4);
    }
}

#[test]
fn wide_resnet_gradient_matches_finite_differences_on_sampled_coordinates() {
    let model = Model::wrn(10, 1, (3, 8, 8), 4).unwrap();
    let mut rng = Pcg::new(22, 0);
    let mut params: Vec<f64> = model.init(5).iter().map(|&v| v as f64).collect();
    // The classifier starts at zero, which would leave every other gradient zero.
    for v in &mut params[model.param("f.8_classification.weight").unwrap().offset..] {
        *v = rng.normal() as f64 * 0.3;
    }
    let inputs: Vec<f64> = (0..2 * 3 * 64).map(|_| rng.normal() as f64).collect();
    // Small enough that no ReLU input crosses zero (at 1e-5 one did, by 3e-3).
    assert_sampled_gradient(&model, &params, (&inputs, 0), 1e-6);
}
