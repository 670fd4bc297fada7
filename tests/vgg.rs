#![cfg(not(target_arch = "wasm32"))]
//! VGG with BatchNorm as kuangliu/pytorch-cifar's `vgg.py` builds it: the `state_dict` its
//! `VGG('VGG11')` saves (names, shapes and dtypes), the parameter counts of all four depths,
//! and the GPU's loss and gradient against the f64 reference (VGG-19 layer by layer).

mod common;
use common::state_dict::{Entry, batchnorm, written};
use common::{check_evaluator, check_layers, gpus};
use sampa::nn::Model;

/// `VGG('VGG11').state_dict()` as PyTorch 2.15 lists it: each convolution (with bias) at its
/// `nn.Sequential` index, its BatchNorm at the next (the ReLU, the pools and the final 1×1
/// average pool take indices and own nothing), then the classifier.
fn kuangliu_vgg11_state_dict(classes: usize) -> Vec<Entry> {
    let convs = [
        (0, 3, 64),
        (4, 64, 128),
        (8, 128, 256),
        (11, 256, 256),
        (15, 256, 512),
        (18, 512, 512),
        (22, 512, 512),
        (25, 512, 512),
    ];
    let mut v = Vec::new();
    for (i, cin, cout) in convs {
        v.push((format!("features.{i}.weight"), vec![cout, cin, 3, 3], "F32"));
        v.push((format!("features.{i}.bias"), vec![cout], "F32"));
        v.extend(batchnorm(&format!("features.{}", i + 1), cout));
    }
    v.push(("classifier.weight".into(), vec![classes, 512], "F32"));
    v.push(("classifier.bias".into(), vec![classes], "F32"));
    v.sort();
    v
}

#[test]
fn a_written_vgg11_bn_file_has_kuangliu_state_dict_names_shapes_and_dtypes() {
    let m = Model::vgg(11, (3, 32, 32), 10).unwrap();
    assert_eq!(written(&m), kuangliu_vgg11_state_dict(10));
}

#[test]
fn vgg_parameter_counts_and_state_dict_sizes_match_pytorchs() {
    // sum(p.numel() for p in VGG(name).parameters()) and len(VGG(name).state_dict()).
    for (depth, params, entries) in [
        (11, 9_231_114, 58),
        (13, 9_416_010, 72),
        (16, 14_728_266, 93),
        (19, 20_040_522, 114),
    ] {
        let m = Model::vgg(depth, (3, 32, 32), 10).unwrap();
        assert_eq!(m.param_count(), params, "vgg{depth}-bn");
        assert_eq!(written(&m).len(), entries, "vgg{depth}-bn");
    }
}

#[test]
fn vgg_needs_32_by_32_images_and_a_known_depth() {
    let err = Model::vgg(11, (3, 28, 28), 10).unwrap_err().to_string();
    assert!(err.contains("32×32") && err.contains("3×28×28"), "{err}");
    let err = Model::vgg(12, (3, 32, 32), 10).unwrap_err().to_string();
    assert!(err.contains("11, 13, 16 and 19"), "{err}");
}

/// VGG-19 layer by layer on the GPU's own inputs (`common::check_layers`): its 16
/// BatchNorm-ReLUs are the paper's model.
#[test]
fn gpu_vgg19_bn_matches_cpu_reference_layer_by_layer() {
    let m = Model::vgg(19, (3, 32, 32), 10).unwrap();
    for gpu in &gpus() {
        check_layers(gpu, &m, 2);
    }
}

#[test]
fn gpu_vgg11_bn_matches_cpu_reference() {
    let m = Model::vgg(11, (3, 32, 32), 10).unwrap();
    for gpu in &gpus() {
        check_evaluator(gpu, &m, 2);
    }
}
