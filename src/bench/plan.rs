//! Which cases the suite runs on one adapter, prepared: matmul per variant on square sizes and
//! on the models' own products, copy and read-modify-write bandwidth, dispatch cost, upload
//! and readback, training steps of SGD, SAM and SAMPa-0.2 under each single-adapter schedule,
//! and the toy. A case that cannot be prepared (it exceeds the adapter's limits, say) becomes a
//! result with its reason, and the rest go on. The native suite adds the two-adapter and
//! whole-run cases.

use super::cases::{Case, Value, Work, failed, template};
use super::schema::BenchResult;
pub use super::schema::PARTS;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::kernels::matmul::{self, Dims, Form, Variant};
use crate::kernels::membench;
use crate::nn::Model;
use crate::optim::{BaseKind, OptimizerConfig, OptimizerKind};
use crate::train::{Placement, Trainer};

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The short suite (about a minute per adapter on a CPU rasteriser).
    pub quick: bool,
    /// Square matmul sizes.
    pub sizes: Vec<usize>,
    /// Models for the step cases (`mlp`, `cnn`).
    pub models: Vec<String>,
    /// Suite parts to run (`matmul`, `bandwidth`, `dispatch`, `transfer`, `step`, `toy`,
    /// `time_to_accuracy`).
    pub parts: Vec<String>,
    /// Seconds after which no further group of cases starts (None: no limit).
    pub budget_s: Option<f64>,
}

impl Settings {
    /// The default suite, full or quick.
    pub fn new(quick: bool) -> Settings {
        let sizes = if quick {
            vec![128, 256, 512]
        } else {
            vec![128, 256, 512, 1024]
        };
        // ResNet-20 is the paper's smallest network; the quick suite leaves it to the full one
        // (a step takes seconds on a CPU rasteriser).
        let mut models = vec!["mlp".to_string(), "cnn".to_string()];
        if !quick && cfg!(not(target_arch = "wasm32")) {
            models.push("resnet20".into());
        }
        Settings {
            quick,
            sizes,
            models,
            parts: PARTS.iter().map(|p| p.to_string()).collect(),
            budget_s: None,
        }
    }

    /// Whether part `p` runs.
    pub fn runs(&self, p: &str) -> bool {
        self.parts.iter().any(|q| q == p)
    }

    /// Floats moved by the bandwidth and transfer cases.
    pub fn floats(&self) -> usize {
        if self.quick { 1 << 22 } else { 1 << 24 }
    }

    /// Consecutive steps per step sample (the quick suite samples single steps).
    pub fn burst(&self) -> usize {
        if self.quick { 1 } else { 3 }
    }

    /// Examples per step for `model`: the quick suite steps the CNN at 32 so it fits its
    /// minute on a CPU rasteriser; BERTs step at GLUE's batch of 32.
    pub fn batch(&self, model: &str) -> usize {
        if (self.quick && model == "cnn") || model.starts_with("bert") {
            32
        } else {
            128
        }
    }
}

/// The names [`model`] knows, for the command line.
pub const MODELS: [&str; 13] = [
    "mlp",
    "cnn",
    "resnet20",
    "resnet56",
    "resnet18",
    "resnet50",
    "vgg19-bn",
    "densenet-cifar",
    "densenet121",
    "vit-2-64-4-p7",
    "vit-tiny",
    "bert-2-64-4",
    "bert-base",
];

/// The MLP 784-256-256-10 or the small CNN on 28×28 images, or (natively) ResNet-20,
/// ResNet-56, VGG-19 with BatchNorm, `densenet-cifar` or DenseNet-121 on CIFAR's 32×32×3,
/// torchvision's ResNet-18 at 64×64×3 (small enough for a CPU adapter) and ResNet-50 at
/// ImageNet's 224×224×3, the ViT `vit-2-64-4-p7` on Fashion-MNIST's 28×28×1, or ViT-Ti/16
/// (`vit-tiny`) at the 224×224×3 it is fine-tuned at, or BERT (`bert-2-64-4`, `bert-base`) on
/// GLUE's shape: 128 tokens of BERT's 30522-id vocabulary, 2 classes, by name.
pub fn model(name: &str) -> Result<Model> {
    match name {
        "cnn" => Model::cnn(1, 28, 28, 10),
        #[cfg(not(target_arch = "wasm32"))]
        "resnet20" => Model::resnet(20, 3, 32, 32, 10),
        #[cfg(not(target_arch = "wasm32"))]
        "resnet56" => Model::resnet(56, 3, 32, 32, 10),
        #[cfg(not(target_arch = "wasm32"))]
        "resnet18" => Model::torchvision_resnet(18, (3, 64, 64), 10),
        #[cfg(not(target_arch = "wasm32"))]
        "resnet50" => Model::torchvision_resnet(50, (3, 224, 224), 10),
        #[cfg(not(target_arch = "wasm32"))]
        "vgg19-bn" => Model::vgg(19, (3, 32, 32), 10),
        #[cfg(not(target_arch = "wasm32"))]
        "densenet-cifar" | "densenet121" => {
            let spec = crate::nn::densenets::DenseSpec::named(name)?;
            Model::densenet(&spec, name, (3, 32, 32), 10)
        }
        #[cfg(not(target_arch = "wasm32"))]
        "vit-2-64-4-p7" | "vit-tiny" => {
            let spec = crate::nn::vits::VitSpec::named(name)?;
            let image = if name == "vit-tiny" {
                (3, 224, 224)
            } else {
                (1, 28, 28)
            };
            Model::vit(spec, image, 10)
        }
        #[cfg(not(target_arch = "wasm32"))]
        "bert-2-64-4" | "bert-base" => {
            use crate::nn::berts::{BertSpec, POSITIONS, TextInput};
            let input = TextInput {
                vocab: 30522,
                positions: POSITIONS,
                tokens: 128,
                pad: 0,
            };
            Model::bert(BertSpec::named(name)?, input, 2)?.with_dropout(0.1)
        }
        _ => Model::mlp(784, &[256, 256], 10),
    }
}

/// The cases of `settings` on `gpu` (its index in the report is `adapter`), with the kernel
/// forms `kernels`; results for the cases that could not be prepared.
pub fn cases(
    gpu: &Gpu,
    adapter: usize,
    kernels: Kernels,
    s: &Settings,
) -> (Vec<Case>, Vec<BenchResult>) {
    let mut out = Prepared::default();
    if s.runs("matmul") {
        matmul_cases(gpu, adapter, s, &mut out);
    }
    if s.runs("bandwidth") {
        bandwidth_cases(gpu, adapter, s, &mut out);
    }
    if s.runs("dispatch") {
        for (inner, name) in [
            (1, "empty dispatch, one per submission"),
            (64, "empty dispatch, 64 per submission"),
        ] {
            let t = template("dispatch", name, adapter, "us");
            let work = membench::prepare_noop(gpu).map(|d| Work::Kernels {
                dispatches: vec![d],
                inner,
            });
            out.push(t, work, Value::Time(1e6));
        }
    }
    if s.runs("transfer") {
        transfer_cases(gpu, adapter, s, &mut out);
    }
    if s.runs("step") {
        for name in &s.models {
            step_cases(
                gpu,
                adapter,
                kernels,
                (name, s.batch(name), s.burst()),
                &mut out,
            );
        }
    }
    if s.runs("toy") {
        let mut t = template("toy", "SAMPa-0.2, d=2, 200 steps", adapter, "steps/s");
        t.params.insert("steps".into(), "200".into());
        let config = crate::toy::ToyConfig::default();
        let work = Ok(Work::Toy(crate::toy::Method::Sampa(0.2), config));
        out.push(t, work, Value::Rate(200.0));
    }
    (out.cases, out.failed)
}

/// Cases so far, and the results of those that could not be prepared.
#[derive(Default)]
pub struct Prepared {
    /// Ready to sample.
    pub cases: Vec<Case>,
    /// With their reasons.
    pub failed: Vec<BenchResult>,
}

impl Prepared {
    /// Add a case, or its failure.
    pub fn push(&mut self, t: BenchResult, work: Result<Work>, value: Value) {
        match work {
            Ok(w) => self.cases.push(Case::new(t, w, value)),
            Err(e) => self.failed.push(failed(t, e)),
        }
    }
}

/// Calibrated later (see `rounds`): kernels repeat until a submission lasts a few ms.
const AUTO: usize = 0;

fn product(gpu: &Gpu, v: Variant, form: Form, dims: Dims) -> Result<Work> {
    // Check the operands against the adapter before making them on the host.
    for (what, rows, cols) in [
        ("bench A", dims.m, dims.k),
        ("bench B", dims.k, dims.n),
        ("bench C", dims.m, dims.n),
    ] {
        let bytes = rows.checked_mul(cols).and_then(|n| n.checked_mul(4));
        gpu.check_size(what, bytes.map_or(u64::MAX, |b| b as u64))?;
    }
    let mut rng = crate::rng::Pcg::new(17, 0);
    let a = gpu.upload(&rng.vec(dims.m * dims.k, -1.0, 1.0), "bench A")?;
    let b = gpu.upload(&rng.vec(dims.k * dims.n, -1.0, 1.0), "bench B")?;
    let c = gpu.zeros::<f32>(dims.m * dims.n, "bench C")?;
    let d = matmul::prepare(gpu, v, form, dims, a.view(), b.view(), c.view(), false)?;
    Ok(Work::Kernels {
        dispatches: vec![d],
        inner: AUTO,
    })
}

fn matmul_cases(gpu: &Gpu, adapter: usize, s: &Settings, out: &mut Prepared) {
    for v in Variant::on(gpu) {
        for &n in &s.sizes {
            let dims = Dims { m: n, n, k: n };
            let mut t = template(
                "matmul",
                &format!("square {n}x{n}x{n} {}", v.name()),
                adapter,
                "GFLOP/s",
            );
            t.params.insert("group".into(), "square".into());
            t.params.insert("size".into(), n.to_string());
            t.params.insert("variant".into(), v.name().into());
            out.push(
                t,
                product(gpu, v, Form::AB, dims),
                Value::Rate(dims.flops() / 1e9),
            );
        }
        let models: &[&str] = if s.quick { &["mlp"] } else { &["mlp", "cnn"] };
        for &name in models {
            let Ok(m) = model(name) else { continue };
            for (what, form, dims) in m.matmul_products(s.batch(name)) {
                let case = format!(
                    "{name} {what} {}x{}x{} {}",
                    dims.m,
                    dims.n,
                    dims.k,
                    v.name()
                );
                let mut t = template("matmul", &case, adapter, "GFLOP/s");
                t.params.insert("group".into(), name.into());
                t.params.insert("variant".into(), v.name().into());
                out.push(
                    t,
                    product(gpu, v, form, dims),
                    Value::Rate(dims.flops() / 1e9),
                );
            }
        }
    }
}

fn bandwidth_cases(gpu: &Gpu, adapter: usize, s: &Settings, out: &mut Prepared) {
    let n = s.floats();
    let mb = (n * 4) >> 20;
    let bytes = (2 * 4 * n) as f64 / 1e9;
    let copy = (|| {
        let src = gpu.zeros::<f32>(n, "bench copy source")?;
        let dst = gpu.zeros::<f32>(n, "bench copy destination")?;
        membench::prepare_copy(gpu, n, &src, &dst)
    })();
    let rmw = gpu
        .zeros::<f32>(n, "bench read-modify-write")
        .and_then(|x| membench::prepare_rmw(gpu, n, &x));
    for (name, d) in [("copy", copy), ("read-modify-write", rmw)] {
        let mut t = template("bandwidth", &format!("{name} {mb} MiB"), adapter, "GB/s");
        t.params.insert("bytes".into(), (n * 4).to_string());
        let work = d.map(|d| Work::Kernels {
            dispatches: vec![d],
            inner: AUTO,
        });
        out.push(t, work, Value::Rate(bytes));
    }
}

fn transfer_cases(gpu: &Gpu, adapter: usize, s: &Settings, out: &mut Prepared) {
    let n = s.floats();
    let mb = (n * 4) >> 20;
    let gb = (4 * n) as f64 / 1e9;
    let t = template("transfer", &format!("upload {mb} MiB"), adapter, "GB/s");
    let up = gpu
        .zeros::<f32>(n, "bench upload")
        .map(|b| Work::Upload(b, vec![0.5; n]));
    out.push(t, up, Value::Rate(gb));
    let t = template("transfer", &format!("readback {mb} MiB"), adapter, "GB/s");
    let down = gpu
        .zeros::<f32>(n, "bench readback")
        .map(|b| Work::Readback(b, crate::gpu::Readback::new(gpu, n)));
    out.push(t, down, Value::Rate(gb));
}

/// The step cases' optimizers and placements: SGD and SAM serially, SAMPa-0.2 under each
/// single-adapter schedule, then AdamW as the base of plain steps and of SAMPa-0.2 (the
/// paper's fine-tuning optimizer).
fn step_setups() -> Vec<(&'static str, (OptimizerKind, BaseKind), &'static str)> {
    let (sgd, adamw) = (BaseKind::Sgd, BaseKind::AdamW);
    vec![
        ("SGD", (OptimizerKind::Sgd, sgd), "serial"),
        ("SAM", (OptimizerKind::Sam, sgd), "serial"),
        ("SAMPa-0.2", (OptimizerKind::Sampa, sgd), "serial"),
        ("SAMPa-0.2", (OptimizerKind::Sampa, sgd), "interleaved"),
        ("SAMPa-0.2", (OptimizerKind::Sampa, sgd), "fused"),
        ("AdamW", (OptimizerKind::Sgd, adamw), "serial"),
        ("AdamW+SAMPa-0.2", (OptimizerKind::Sampa, adamw), "serial"),
    ]
}

fn step_cases(
    gpu: &Gpu,
    adapter: usize,
    kernels: Kernels,
    (name, batch, burst): (&str, usize, usize),
    out: &mut Prepared,
) {
    for (label, optimizer, schedule) in step_setups() {
        let placement = match schedule {
            "interleaved" => Placement::Interleaved,
            "fused" => Placement::Fused,
            _ => Placement::Serial,
        };
        let t = step_template(adapter, (name, batch), label, schedule);
        let work = model(name)
            .and_then(|m| step_work(gpu, (&m, kernels), (batch, burst), optimizer, placement));
        out.push(t, work, Value::Time(1e3));
    }
}

/// The template of a training-step case.
pub fn step_template(
    adapter: usize,
    (model, batch): (&str, usize),
    label: &str,
    schedule: &str,
) -> BenchResult {
    let case = format!("{model} b{batch} {label} {schedule}");
    let mut t = template("step", &case, adapter, "ms");
    for (k, v) in [
        ("model", model),
        ("optimizer", label),
        ("schedule", schedule),
    ] {
        t.params.insert(k.into(), v.into());
    }
    t.params.insert("batch".into(), batch.to_string());
    t
}

/// Bursts of `burst` steps of a trainer for `kind` on `base` under `placement`, on a fixed
/// random batch of `batch` examples.
pub fn step_work(
    gpu: &Gpu,
    (model, kernels): (&Model, Kernels),
    (batch, burst): (usize, usize),
    (kind, base): (OptimizerKind, BaseKind),
    placement: Placement,
) -> Result<Work> {
    let optimizer = OptimizerConfig {
        kind,
        base,
        lambda: 0.2,
        ..Default::default()
    };
    let before = gpu.allocated_bytes();
    let trainer = Trainer::seeded(gpu, (model, kernels), optimizer, placement)?;
    let bytes = before
        .zip(gpu.allocated_bytes())
        .map(|(a, b)| b.saturating_sub(a));
    Ok(Work::Steps(
        Box::new(trainer),
        model.synthetic_batch(batch),
        burst,
        bytes,
    ))
}
