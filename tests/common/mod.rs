//! Shared test helpers: the library's own (`sampa::gpu::testing`), which the kernels' unit
//! tests use too.
#![allow(dead_code, unused_imports)]

pub mod chrome;
pub mod cli;
pub mod state_dict;

pub use sampa::gpu::testing::{assert_close, compare, gpus};

use sampa::data::Batch;
use sampa::kernels::Kernels;
use sampa::nn::Model;
use sampa::nn::evaluator::Evaluator;
use sampa::nn::reference;
use sampa::optim::OptimizerConfig;
use sampa::rng::Pcg;
use sampa::train::{Trainer, TrainerSpec};

/// The kernel forms `gpu` uses (measured once per adapter and cached, as a run does).
pub fn kernels(gpu: &sampa::Gpu) -> Kernels {
    sampa::tuning::choose(gpu).expect("kernel forms for the adapter")
}

/// What a trainer of `optimizer` for `model` on `gpu` is made of, with the adapter's kernels.
pub fn spec(
    gpu: &sampa::Gpu,
    model: &Model,
    smoothing: f32,
    optimizer: OptimizerConfig,
    seed: u64,
) -> TrainerSpec {
    TrainerSpec {
        model: model.clone(),
        smoothing,
        optimizer,
        seed,
        kernels: kernels(gpu),
    }
}

/// A trainer of `optimizer` for `model` on `gpu` from `x0`.
pub fn trainer(
    gpu: &sampa::Gpu,
    model: &Model,
    smoothing: f32,
    x0: &[f32],
    optimizer: OptimizerConfig,
    seed: u64,
) -> Trainer {
    Trainer::new(gpu, spec(gpu, model, smoothing, optimizer, seed), x0).expect("a trainer")
}

/// Every placement of `kind`'s gradient passes for `model`: serial, and for SAMPa's pair also
/// interleaved, fused and dual (its worker a thread on `worker`).
pub fn placements(
    kind: sampa::optim::OptimizerKind,
    model: &Model,
    worker: &sampa::Gpu,
) -> Vec<sampa::train::Placement> {
    use sampa::train::Placement;
    if kind != sampa::optim::OptimizerKind::Sampa {
        return vec![Placement::Serial];
    }
    let how = (model.clone(), 0.0, kernels(worker));
    let thread = sampa::train::schedule::thread::ThreadTransport::spawn_failing_at;
    let dual = thread(worker.clone(), how, None).expect("a dual worker");
    vec![
        Placement::Serial,
        Placement::Interleaved,
        Placement::Fused,
        Placement::Dual(Box::new(dual)),
    ]
}

/// Write `params` of `model` as a safetensors file with no metadata, as another tool (PyTorch's
/// `safetensors.torch.save_file`) would.
pub fn save_plain(model: &Model, params: &[f32], path: &std::path::Path) {
    let tensors = sampa::nn::weights::model_tensors(model, params);
    let bytes = sampa::nn::weights::serialize(&tensors, None).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A batch of `n` random examples of `inputs` values in [0, 1) and labels below `classes`.
pub fn random_batch(rng: &mut Pcg, n: usize, inputs: usize, classes: usize) -> Batch {
    Batch {
        pixels: rng.vec(n * inputs, 0.0, 1.0),
        labels: (0..n).map(|_| rng.below(classes as u32)).collect(),
        drawn: Vec::new(),
    }
}

/// The GPU evaluator's loss, correct count and gradient against the f64 reference.
pub fn check_evaluator(gpu: &sampa::Gpu, model: &Model, batch: usize) {
    check_evaluator_with(gpu, model, batch, kernels(gpu));
}

/// [`check_evaluator`] with the kernel forms `k`.
pub fn check_evaluator_with(gpu: &sampa::Gpu, model: &Model, batch: usize, k: Kernels) {
    let b = random_batch(&mut Pcg::new(5, 0), batch, model.input, model.classes);
    check_evaluator_at(gpu, model, (&model.init(11), &b), (k, None));
}

/// The GPU evaluator's loss, correct count and gradient at `x` on `b` against the f64
/// reference, with the kernel forms `k` and the dropout key `key` (none: the key of an
/// evaluator whose keys were never set).
pub fn check_evaluator_at(
    gpu: &sampa::Gpu,
    model: &Model,
    (x, b): (&[f32], &Batch),
    (k, key): (Kernels, Option<u32>),
) {
    let params = gpu.upload(x, "params").unwrap();
    let grads = gpu.zeros::<f32>(x.len(), "grads").unwrap();
    // A regression's targets have nothing to smooth.
    let smoothing = if model.regression() { 0.0 } else { 0.1 };
    let mut ev = Evaluator::new(model.clone(), smoothing, k, &params, &grads).unwrap();
    if let Some(key) = key {
        ev.set_dropout_keys(&[key]).unwrap();
    }
    let (loss, correct) = ev.evaluate(gpu, b).unwrap();
    let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let inputs: Vec<f64> = b.pixels.iter().map(|&v| v as f64).collect();
    let labelled = (&inputs[..], &b.labels[..]);
    let smoothing = smoothing as f64;
    let want = reference::evaluate_keyed(model, &xs, labelled, smoothing, key.unwrap_or(0));
    let what = format!(
        "{} {} batch {} {:?}",
        gpu.adapter.short(),
        model.name,
        b.len(),
        k
    );
    assert_close(&format!("{what} loss"), &[loss], &[want.loss], 1e-5, 1e-5);
    assert_eq!(correct, want.correct, "{what}: correct count");
    let scale = want.grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert_close(
        &format!("{what} gradient"),
        &gpu.read(&grads).unwrap(),
        &want.grad,
        1e-5 * scale,
        1e-4,
    );
}

/// The worst tensor of `model` (but those named in `skipped`) by the RMS error of `x` from
/// the f64 run's `want` over the RMS distance that run moved from `x0`, on the coordinates
/// `kept`: `(ratio, tensor name)`. Every tensor checked must have moved.
pub fn worst_tensor(
    model: &Model,
    (x, want, x0): (&[f32], &[f64], &[f64]),
    kept: &[bool],
    skipped: &[&str],
) -> (f64, String) {
    let mut worst = (0.0f64, String::new());
    for p in model
        .params
        .iter()
        .filter(|p| !skipped.contains(&p.name.as_str()))
    {
        let range = p.offset..p.offset + p.len();
        let (mut err, mut dist) = (0.0, 0.0);
        for i in range.filter(|&i| kept[i]) {
            err += (x[i] as f64 - want[i]).powi(2);
            dist += (want[i] - x0[i]).powi(2);
        }
        assert!(dist > 0.0, "{} did not move", p.name);
        let ratio = (err / dist).sqrt();
        if ratio > worst.0 {
            worst = (ratio, p.name.clone());
        }
    }
    worst
}

/// Every layer of `model` against its f64 reference on the GPU's own inputs, in one traced
/// gradient evaluation at `batch` (`sampa::nn::trace`): each layer's output, input gradient
/// and tensor gradients, and the loss from the GPU's logits. Deep ReLU networks need this
/// form: end to end, their f32 and f64 gradients part wherever an activation lies within
/// rounding of 0 and the two ReLUs decide differently.
pub fn check_layers(gpu: &sampa::Gpu, model: &Model, batch: usize) {
    let x = model.init(11);
    let params = gpu.upload(&x, "params").unwrap();
    let grads = gpu.zeros::<f32>(x.len(), "grads").unwrap();
    let mut ev = Evaluator::new(model.clone(), 0.1, kernels(gpu), &params, &grads).unwrap();
    let b = random_batch(&mut Pcg::new(5, 0), batch, model.input, model.classes);
    let (loss, traces) = sampa::nn::trace::trace(&mut ev, gpu, &b).unwrap();
    let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
    let what = format!("{} {} batch {batch}", gpu.adapter.short(), model.name);
    let close = |name: &str, got: &[f32], want: &[f64]| {
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert_close(name, got, want, 1e-5 * scale, 1e-4);
    };
    let logits = &traces.last().expect("a model has layers").y;
    let (want_loss, _, dlogits) =
        reference::cross_entropy(&f64s(logits), &b.labels, model.classes, 0.1);
    assert_close(&format!("{what} loss"), &[loss], &[want_loss], 1e-6, 1e-6);
    close(
        &format!("{what} logit gradient"),
        &traces.last().unwrap().dy,
        &dlogits,
    );
    for (i, t) in traces.iter().enumerate() {
        let at = (batch, t.input, t.first);
        let (y, dx, g) = reference::layer_pass(
            t.layer,
            at,
            &xs[t.params.clone()],
            &f64s(&t.x),
            &f64s(&t.dy),
        );
        let name = format!("{what} layer {i} {:?}", t.layer);
        close(&format!("{name} output"), &t.y, &y);
        if let Some(got) = &t.dx {
            close(&format!("{name} input gradient"), got, &dx);
        }
        if !g.is_empty() {
            close(&format!("{name} tensor gradients"), &t.grads, &g);
        }
    }
}

/// The f64 gradient of `model` at `params` on two examples of `inputs` (labels 1 and 3), in the
/// pass with dropout key `key`, against central differences with step `h`, at two coordinates
/// of every tensor: at most 1e-4 relative.
pub fn assert_sampled_gradient(
    model: &Model,
    params: &[f64],
    (inputs, key): (&[f64], u32),
    h: f64,
) {
    let labels = [1, 3];
    let loss = |p: &[f64]| reference::evaluate_keyed(model, p, (inputs, &labels), 0.1, key).loss;
    let eval = reference::evaluate_keyed(model, params, (inputs, &labels), 0.1, key);
    let mut worst = 0.0f64;
    for p in &model.params {
        for j in 0..2.min(p.len()) {
            let i = p.offset + (j * 7919) % p.len();
            let (_, err) = central_difference(loss, params, (i, h), eval.grad[i]);
            worst = worst.max(err);
        }
    }
    eprintln!(
        "{}: max relative error over sampled coordinates {worst:.1e}",
        model.name
    );
    assert!(worst < 1e-4, "{worst}");
}

/// The central difference of `loss` at `params` along coordinate `i` with step `h`, and its
/// relative error against the analytic `grad` (with a floor of 1e-6 under the magnitudes).
pub fn central_difference(
    loss: impl Fn(&[f64]) -> f64,
    params: &[f64],
    (i, h): (usize, f64),
    grad: f64,
) -> (f64, f64) {
    let mut q = params.to_vec();
    q[i] += h;
    let up = loss(&q);
    q[i] -= 2.0 * h;
    let num = (up - loss(&q)) / (2.0 * h);
    (num, (num - grad).abs() / (1e-6 + num.abs().max(grad.abs())))
}

/// The f64 gradient of `model` at `params` on `inputs` (labels 1, 3, 5, … modulo the classes)
/// against central differences with step `h` along one direction per group of tensors: ±1
/// (drawn) on two sampled coordinates of each tensor in the group, 0 elsewhere, so that each
/// check costs two losses however many tensors it covers (for the big models, whose every f64
/// loss takes seconds). At most 1e-4 relative per direction.
pub fn assert_directional_gradient(
    model: &Model,
    params: &[f64],
    inputs: &[f64],
    h: f64,
    groups: &[&[&str]],
) {
    let batch = inputs.len() / model.input;
    let labels: Vec<u32> = (0..batch as u32)
        .map(|i| (2 * i + 1) % model.classes as u32)
        .collect();
    let loss = |p: &[f64]| reference::evaluate_keyed(model, p, (inputs, &labels), 0.1, 0).loss;
    let eval = reference::evaluate_keyed(model, params, (inputs, &labels), 0.1, 0);
    let mut rng = Pcg::new(31, 0);
    let mut worst = 0.0f64;
    for names in groups {
        let mut dir = vec![0.0; params.len()];
        for name in *names {
            let p = model
                .param(name)
                .unwrap_or_else(|| panic!("{}: no tensor {name}", model.name));
            for j in 0..2.min(p.len()) {
                let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 };
                dir[p.offset + (j * 7919) % p.len()] = sign;
            }
        }
        let at = |s: f64| -> Vec<f64> { params.iter().zip(&dir).map(|(p, d)| p + s * d).collect() };
        let num = (loss(&at(h)) - loss(&at(-h))) / (2.0 * h);
        let exact: f64 = eval.grad.iter().zip(&dir).map(|(g, d)| g * d).sum();
        let err = (num - exact).abs() / (1e-6 + num.abs().max(exact.abs()));
        eprintln!(
            "{}: {names:?}: {num:.6e} by differences, {exact:.6e} exact",
            model.name
        );
        worst = worst.max(err);
    }
    assert!(worst < 1e-4, "{}: relative error {worst:.1e}", model.name);
}

/// Parameters, running statistics and reported losses after three steps of `kind` (ρ 0.05,
/// SAMPa's λ 0.2, lr 0.1, the residual networks' hyperparameters) of `m` on batches of 4
/// under `placement`, and the schedule that ran: what the schedule tests compare.
pub fn three_steps(
    gpu: &sampa::Gpu,
    m: &Model,
    kind: sampa::optim::OptimizerKind,
    placement: sampa::train::Placement,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, sampa::train::Schedule) {
    let config = OptimizerConfig {
        kind,
        ..Default::default()
    };
    let mut t = trainer(gpu, m, 0.1, &m.init(2), config, 0);
    t.set_placement(gpu, placement).unwrap();
    let mut rng = Pcg::new(4, 0);
    let losses = (0..3)
        .map(|_| {
            let b = random_batch(&mut rng, 4, m.input, m.classes);
            t.step(gpu, &b, residual_hyper()).unwrap()[0]
        })
        .collect();
    let state = t.state(gpu).unwrap();
    (state.x, state.model_state, losses, t.schedule())
}

/// The step of the residual networks' training tests: lr 0.05, momentum 0.9, weight decay 5e-4.
pub fn residual_hyper() -> sampa::kernels::sgd::SgdHyper {
    sampa::kernels::sgd::SgdHyper {
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov: false,
    }
}

/// Every file under `dir` whose name ends in `.ext`, depth first, in name order.
pub fn files_with_extension(dir: &std::path::Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        if p.is_dir() {
            out.extend(files_with_extension(&p, ext));
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
    out
}
