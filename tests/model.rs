#![cfg(not(target_arch = "wasm32"))]
//! Models: finite-difference checks of the CPU f64 reference (each layer and a whole model),
//! the GPU evaluator against that reference, and one full GPU training step against f64.

mod common;

use common::{assert_close, check_evaluator, gpus, kernels, random_batch, trainer};
use sampa::data::Batch;
use sampa::kernels::Kernels;
use sampa::kernels::sgd::{self, SgdHyper};
use sampa::nn::evaluator::Evaluator;
use sampa::nn::reference::{self, cross_entropy, layer_backward, layer_forward};
use sampa::nn::{Act, Layer, Model};
use sampa::rng::Pcg;

fn randn(rng: &mut Pcg, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal() as f64).collect()
}

/// Central differences of `f` at `x`, one coordinate at a time.
fn numeric_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let h = 1e-6;
    (0..x.len())
        .map(|i| {
            let mut p = x.to_vec();
            p[i] += h;
            let up = f(&p);
            p[i] -= 2.0 * h;
            (up - f(&p)) / (2.0 * h)
        })
        .collect()
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

/// Finite differences of Σ r ⊙ layer(x) with respect to x and to the layer's tensors against
/// the layer's backward; returns the two relative errors.
fn layer_check(layer: Layer, (batch, input, first): (usize, Act, bool), seed: u64) -> [f64; 2] {
    let mut rng = Pcg::new(seed, 0);
    let n_params: usize = layer.param_len();
    let x = randn(&mut rng, batch * input.len());
    let w = randn(&mut rng, n_params);
    let out = layer_forward(layer, (batch, input, first), &w, &x).len();
    let r = randn(&mut rng, out);
    let obj = |x: &[f64], w: &[f64]| {
        let y = layer_forward(layer, (batch, input, first), w, x);
        y.iter().zip(&r).map(|(y, r)| y * r).sum::<f64>()
    };
    let (dx, dw) = layer_backward(layer, (batch, input, first), &w, &x, &r);
    let ex = if first {
        0.0
    } else {
        max_rel(&dx, &numeric_grad(&x, |x| obj(x, &w)))
    };
    let ew = if n_params == 0 {
        0.0
    } else {
        max_rel(&dw, &numeric_grad(&w, |w| obj(&x, w)))
    };
    eprintln!(
        "{layer:?} on {input:?} (first {first}): max relative error dx {ex:.1e}, d tensors {ew:.1e}"
    );
    [ex, ew]
}

#[test]
fn every_layer_matches_finite_differences() {
    // Random inputs keep ReLU and max-pool kinks farther than h from every coordinate, so the
    // checks are exact to rounding.
    let conv = |cin, cout, k, pad| Layer::Conv2d {
        cin,
        cout,
        k,
        pad,
        stride: 1,
        bias: true,
    };
    let strided = Layer::Conv2d {
        cin: 4,
        cout: 8,
        k: 3,
        pad: 1,
        stride: 2,
        bias: false,
    };
    let bn = |relu| Layer::BatchNorm { c: 3, relu };
    let block = |cin, cout, stride| Layer::Block { cin, cout, stride };
    let pool = |k, stride, pad| Layer::MaxPool { k, stride, pad };
    let tv = |cin, width, stride, bottleneck| Layer::TvBlock {
        cin,
        width,
        stride,
        bottleneck,
    };
    let wide = |cin, cout, stride, down| Layer::WideUnit {
        cin,
        cout,
        stride,
        down,
        dropout: 0.0,
    };
    let cases = [
        (Layer::Linear { inp: 5, out: 4 }, (3, Act::Flat(5), false)),
        (conv(3, 4, 3, 1), (2, Act::Image(3, 5, 6), false)),
        (conv(3, 4, 3, 1), (2, Act::Image(3, 5, 6), true)),
        (conv(2, 3, 5, 2), (1, Act::Image(2, 6, 6), false)),
        (Layer::Relu, (2, Act::Image(3, 4, 4), false)),
        (Layer::MaxPool2, (2, Act::Image(3, 4, 6), false)),
        (Layer::ReluMaxPool2, (2, Act::Image(3, 4, 6), false)),
        (Layer::Flatten, (2, Act::Image(3, 2, 5), false)),
        (strided, (2, Act::Image(4, 5, 6), false)),
        (strided, (2, Act::Image(4, 6, 6), true)),
        (bn(false), (2, Act::Image(3, 3, 2), false)),
        (bn(true), (2, Act::Image(3, 3, 2), false)),
        (block(4, 4, 1), (2, Act::Image(4, 4, 3), false)),
        (block(4, 8, 2), (2, Act::Image(4, 5, 4), false)),
        (Layer::GlobalAvgPool, (2, Act::Image(4, 3, 2), false)),
        (wide(4, 4, 1, false), (2, Act::Image(4, 4, 3), false)),
        (wide(4, 8, 2, true), (2, Act::Image(4, 5, 4), false)),
        (wide(4, 4, 1, true), (2, Act::Image(4, 3, 3), false)),
        (pool(3, 2, 1), (2, Act::Image(3, 5, 6), false)),
        (pool(3, 1, 1), (2, Act::Image(2, 4, 4), false)),
        (tv(4, 4, 1, false), (2, Act::Image(4, 4, 3), false)),
        (tv(4, 8, 2, false), (2, Act::Image(4, 5, 4), false)),
        (tv(16, 4, 1, false), (2, Act::Image(16, 3, 3), false)),
        (tv(16, 4, 1, true), (2, Act::Image(16, 3, 3), false)),
        (tv(8, 4, 2, true), (2, Act::Image(8, 5, 4), false)),
    ];
    for (i, (layer, shape)) in cases.into_iter().enumerate() {
        let e = layer_check(layer, shape, 20 + i as u64);
        assert!(e.iter().all(|&v| v < 1e-7), "{layer:?}: {e:?}");
    }
}

#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    let (batch, classes) = (4, 6);
    let mut rng = Pcg::new(2, 0);
    let z = randn(&mut rng, batch * classes);
    let labels: Vec<u32> = (0..batch).map(|_| rng.below(classes as u32)).collect();
    for smoothing in [0.0, 0.1] {
        let (_, _, d) = cross_entropy(&z, &labels, classes, smoothing);
        let e = max_rel(
            &d,
            &numeric_grad(&z, |z| cross_entropy(z, &labels, classes, smoothing).0),
        );
        eprintln!("cross-entropy (smoothing {smoothing}): max relative error {e:.1e}");
        assert!(e < 1e-7, "{e}");
    }
}

#[test]
fn whole_model_gradient_matches_finite_differences() {
    // ReLU kinks make finite differences wrong only within h of zero; with random inputs none
    // lies that close, so the check is exact to rounding.
    let model = Model::mlp(6, &[5, 4], 3).unwrap();
    let mut rng = Pcg::new(3, 0);
    let params: Vec<f64> = model.init(7).iter().map(|&v| v as f64).collect();
    let inputs = randn(&mut rng, 4 * 6);
    let labels = [0, 2, 1, 2];
    let eval = reference::evaluate(&model, &params, &inputs, &labels, 0.1);
    let numeric = numeric_grad(&params, |p| {
        reference::evaluate(&model, p, &inputs, &labels, 0.1).loss
    });
    let e = max_rel(&eval.grad, &numeric);
    eprintln!(
        "{}: {} parameters, max relative gradient error {e:.1e}",
        model.name,
        params.len()
    );
    assert!(e < 1e-6, "{e}");
}

#[test]
fn mlp_layout_names_and_init_follow_pytorch() {
    let m = Model::mlp(784, &[256, 256], 10).unwrap();
    let names: Vec<(&str, Vec<usize>)> = m
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.shape.clone()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("layers.0.weight", vec![256, 784]),
            ("layers.0.bias", vec![256]),
            ("layers.1.weight", vec![256, 256]),
            ("layers.1.bias", vec![256]),
            ("layers.2.weight", vec![10, 256]),
            ("layers.2.bias", vec![10]),
        ]
    );
    assert_eq!(
        m.param_count(),
        784 * 256 + 256 + 256 * 256 + 256 + 2560 + 10
    );
    let x = m.init(1);
    let w0 = &x[..784 * 256];
    let bound = 1.0 / 784f32.sqrt();
    assert!(w0.iter().all(|v| v.abs() <= bound));
    let var = w0.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w0.len() as f64;
    let want = (bound as f64).powi(2) / 3.0;
    assert!(
        (var / want - 1.0).abs() < 0.02,
        "uniform variance {var} vs {want}"
    );
    assert_eq!(x, m.init(1));
    assert_ne!(x, m.init(2));
    assert!(Model::mlp(784, &[0], 10).is_err());
}

#[test]
fn gpu_evaluator_matches_cpu_reference() {
    for gpu in &gpus() {
        check_evaluator(gpu, &Model::mlp(20, &[17, 9], 5).unwrap(), 7);
        check_evaluator(gpu, &Model::mlp(784, &[256, 256], 10).unwrap(), 128);
    }
}

#[test]
fn one_gpu_training_step_matches_f64() {
    for gpu in &gpus() {
        let model = Model::mlp(784, &[256, 256], 10).unwrap();
        let x0 = model.init(3);
        let mut trainer = trainer(gpu, &model, 0.0, &x0, Default::default(), 0);
        let hyper = SgdHyper {
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: false,
        };
        let mut rng = Pcg::new(9, 0);
        let mut xr: Vec<f64> = x0.iter().map(|&v| v as f64).collect();
        let mut br = vec![0.0; xr.len()];
        for t in 0..2 {
            let b = random_batch(&mut rng, 128, 784, 10);
            trainer.step(gpu, &b, hyper).unwrap();
            let inputs: Vec<f64> = b.pixels.iter().map(|&v| v as f64).collect();
            let want = reference::evaluate(&model, &xr, &inputs, &b.labels, 0.0);
            sgd::reference_step(hyper, t == 0, &want.grad, (&mut xr, &mut br), None);
        }
        let got = gpu.read(trainer.params()).unwrap();
        let moved = got.iter().zip(&x0).filter(|(a, b)| a != b).count();
        assert!(
            moved > got.len() / 2,
            "the step changed only {moved} parameters"
        );
        assert_close(
            &format!("{} two SGD steps, parameters", gpu.adapter.short()),
            &got,
            &xr,
            2e-6,
            1e-4,
        );
    }
}

#[test]
fn cnn_gradient_matches_finite_differences_on_sampled_coordinates() {
    let model = Model::cnn(1, 8, 8, 3).unwrap();
    let mut rng = Pcg::new(13, 0);
    let params: Vec<f64> = model.init(5).iter().map(|&v| v as f64).collect();
    let inputs = randn(&mut rng, 2 * 64);
    let labels = [1, 2];
    let eval = reference::evaluate(&model, &params, &inputs, &labels, 0.0);
    // Every tensor, a spread of coordinates each.
    let mut worst = 0.0f64;
    for p in &model.params {
        for j in 0..12.min(p.len()) {
            let i = p.offset + (j * 7919) % p.len();
            let h = 1e-6;
            let mut q = params.clone();
            q[i] += h;
            let up = reference::evaluate(&model, &q, &inputs, &labels, 0.0).loss;
            q[i] -= 2.0 * h;
            let down = reference::evaluate(&model, &q, &inputs, &labels, 0.0).loss;
            let num = (up - down) / (2.0 * h);
            worst =
                worst.max((num - eval.grad[i]).abs() / (1e-6 + num.abs().max(eval.grad[i].abs())));
        }
    }
    eprintln!(
        "{}: max relative error over sampled coordinates {worst:.1e}",
        model.name
    );
    assert!(worst < 1e-4, "{worst}");
    let names: Vec<&str> = model.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "conv1.weight",
            "conv1.bias",
            "conv2.weight",
            "conv2.bias",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias"
        ]
    );
    assert_eq!(
        model.param("conv2.weight").unwrap().shape,
        vec![64, 32, 3, 3]
    );
    assert_eq!(
        model.param("fc1.weight").unwrap().shape,
        vec![128, 64 * 2 * 2]
    );
}

#[test]
fn gpu_cnn_evaluator_matches_cpu_reference() {
    // The 3-channel case reads an NCHW batch with several channels through im2col's strides.
    for gpu in &gpus() {
        check_evaluator(gpu, &Model::cnn(1, 28, 28, 10).unwrap(), 6);
        check_evaluator(gpu, &Model::cnn(3, 10, 9, 4).unwrap(), 5);
    }
}

/// Gradients and `[loss, correct]` of a fused evaluator at two parameter sets, replica r's set
/// `stride` values after the one before, on two batches.
fn fused_pass(
    gpu: &sampa::Gpu,
    (model, kernels): (&Model, Kernels),
    sets: [&[f32]; 2],
    batches: [&Batch; 2],
    stride: usize,
) -> Vec<(Vec<f32>, [f32; 2])> {
    let n = model.param_count();
    let mut packed = vec![0.0f32; stride + n];
    packed[..n].copy_from_slice(sets[0]);
    packed[stride..].copy_from_slice(sets[1]);
    let params = gpu.upload(&packed, "fused params").unwrap();
    let grads = gpu.zeros::<f32>(stride + n, "fused grads").unwrap();
    let mut ev =
        Evaluator::fused(model.clone(), 0.1, kernels, (&params, &grads), 2, stride).unwrap();
    let plan = ev.load_all(gpu, &batches).unwrap();
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    Evaluator::record_gradient(plan, &mut encoder);
    gpu.queue.submit([encoder.finish()]);
    let m = gpu.read(&plan.metrics).unwrap();
    let g = gpu.read(&grads).unwrap();
    (0..2)
        .map(|r| {
            let at = r * sampa::nn::plan::METRICS_STRIDE;
            (g[r * stride..r * stride + n].to_vec(), [m[at], m[at + 1]])
        })
        .collect()
}

#[test]
fn fused_evaluator_equals_two_single_evaluators_bit_for_bit() {
    use sampa::kernels::matmul::Variant;
    let models = [
        (Model::mlp(20, &[17, 9], 5).unwrap(), 7),
        (Model::mlp(784, &[256, 256], 10).unwrap(), 32),
        (Model::cnn(3, 10, 9, 4).unwrap(), 5),
        (Model::cnn(1, 28, 28, 10).unwrap(), 6),
    ];
    for gpu in &gpus() {
        for variant in Variant::on(gpu) {
            let k = Kernels::uniform(variant, kernels(gpu).vectors);
            for (model, batch) in &models {
                let n = model.param_count();
                let sets = [model.init(1), model.init(2)];
                let mut rng = Pcg::new(9, 0);
                let batches = [
                    random_batch(&mut rng, *batch, model.input, model.classes),
                    random_batch(&mut rng, *batch, model.input, model.classes),
                ];
                let single: Vec<(Vec<f32>, [f32; 2])> = (0..2)
                    .map(|r| {
                        let params = gpu.upload(&sets[r], "params").unwrap();
                        let grads = gpu.zeros::<f32>(n, "grads").unwrap();
                        let mut ev =
                            Evaluator::new(model.clone(), 0.1, k, &params, &grads).unwrap();
                        let (loss, correct) = ev.evaluate(gpu, &batches[r]).unwrap();
                        (gpu.read(&grads).unwrap(), [loss, correct as f32])
                    })
                    .collect();
                // An odd stride (replicas unaligned) and the trainer's whole texture rows.
                for stride in [n + 3, n.next_multiple_of(256)] {
                    let fused = fused_pass(
                        gpu,
                        (model, k),
                        [&sets[0], &sets[1]],
                        [&batches[0], &batches[1]],
                        stride,
                    );
                    for r in 0..2 {
                        assert!(
                            fused[r] == single[r],
                            "{} {} {variant:?} stride {stride}: replica {r} differs from a \
                             single evaluation (loss {:?} vs {:?})",
                            gpu.adapter.short(),
                            model.name,
                            fused[r].1,
                            single[r].1
                        );
                    }
                }
            }
        }
    }
}
