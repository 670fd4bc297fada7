#![cfg(not(target_arch = "wasm32"))]
//! Golden trajectories: the parameters and reported losses after 12 steps of every optimizer,
//! option and schedule, for the MLP and the CNN, must equal the ones recorded in
//! `tests/golden/trajectories.json` bit for bit on the same adapter and driver. The file was
//! recorded from the code before the training core was rebuilt around optimizer programs, so
//! this test is what says the rebuild changed no arithmetic. `SAMPA_WRITE_GOLDEN=1` records
//! the current code's values for the adapters at hand (only do that on purpose). An adapter
//! the file does not know (another driver, a GPU) is checked against the f64 reference
//! instead, and every adapter's serial trajectories are, for some optimizers, too.

mod common;
use common::gpus;
use sampa::data::Batch;
use sampa::kernels::matmul::Variant;
use sampa::kernels::sgd::SgdHyper;
use sampa::kernels::{Kernels, VectorForm};
use sampa::nn::Model;
use sampa::optim::{LookaheadMode, OptimizerConfig, OptimizerKind};
use sampa::rng::Pcg;
use sampa::train::schedule::thread::ThreadTransport;
use sampa::train::{Placement, Trainer, TrainerSpec, parity};
use std::collections::BTreeMap;
use std::path::PathBuf;

const STEPS: usize = 12;

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/trajectories.json")
}

/// The two models: small enough for CI, with every layer kind.
fn models() -> [(&'static str, Model, usize); 2] {
    [
        ("mlp", Model::mlp(784, &[64, 32], 10).unwrap(), 32),
        ("cnn", Model::cnn(1, 16, 16, 10).unwrap(), 8),
    ]
}

/// Step t's batch: full batches with one short one (an epoch's end) at step 7, so SAMPa and
/// SAM-db pair batches of different sizes once and the fused schedule falls back once.
fn batches(m: &Model, full: usize) -> Vec<Batch> {
    let mut rng = Pcg::new(31, 0);
    (0..STEPS)
        .map(|t| {
            let n = if t == 7 { full / 2 + 1 } else { full };
            Batch {
                pixels: rng.vec(n * m.input, 0.0, 1.0),
                labels: (0..n).map(|_| rng.below(m.classes as u32)).collect(),
                drawn: Vec::new(),
            }
        })
        .collect()
}

/// The rate drops after step 5 (as at an epoch's end), so SAMPa both reuses and recomputes
/// its look-ahead.
fn hyper(t: usize, nesterov: bool) -> SgdHyper {
    SgdHyper {
        lr: if t < 5 { 0.05 } else { 0.02 },
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov,
    }
}

/// Every optimizer and option: (name, config, nesterov).
fn optimizers() -> Vec<(&'static str, OptimizerConfig, bool)> {
    use OptimizerKind::*;
    let base = OptimizerConfig {
        rho: 0.05,
        ..Default::default()
    };
    let with = |kind| OptimizerConfig { kind, ..base };
    vec![
        ("sgd", with(Sgd), false),
        ("sgd-nesterov", with(Sgd), true),
        ("sam", with(Sam), false),
        (
            "sam-adaptive",
            OptimizerConfig {
                adaptive: true,
                rho: 0.5,
                ..with(Sam)
            },
            false,
        ),
        (
            "sam-unnormalized",
            OptimizerConfig {
                unnormalized: true,
                ..with(Sam)
            },
            false,
        ),
        ("sampa-0.2", with(Sampa), false),
        (
            "sampa-0",
            OptimizerConfig {
                lambda: 0.0,
                ..with(Sampa)
            },
            false,
        ),
        (
            "sampa-1",
            OptimizerConfig {
                lambda: 1.0,
                ..with(Sampa)
            },
            false,
        ),
        (
            "sampa-paper",
            OptimizerConfig {
                lookahead: LookaheadMode::Paper,
                ..with(Sampa)
            },
            false,
        ),
        ("sampa-nesterov", with(Sampa), true),
        (
            "sampa-adaptive",
            OptimizerConfig {
                adaptive: true,
                rho: 0.5,
                ..with(Sampa)
            },
            false,
        ),
        ("randsam", with(RandSam), false),
        ("optsam", with(OptSam), false),
        ("sam-db", with(SamDb), false),
    ]
}

/// FNV-1a over the values' bits: equal hashes mean equal bits, for all practical purposes.
fn hash(values: &[f32]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in values {
        for b in v.to_bits().to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// `params <hash> losses <hash> x[0] <value>`: the hashes decide; the value helps a reader.
fn record(params: &[f32], losses: &[f32]) -> String {
    format!(
        "params {} losses {} x0 {:e}",
        hash(params),
        hash(losses),
        params[0]
    )
}

/// The trainer every trajectory starts from (with `m.init(3)`).
fn spec(m: &Model, config: OptimizerConfig, kernels: Kernels) -> TrainerSpec {
    TrainerSpec {
        model: m.clone(),
        smoothing: 0.1,
        optimizer: config,
        seed: 7,
        kernels,
    }
}

/// Parameters and reported losses after `STEPS` steps with the kernel forms `kernels`.
fn trajectory(
    gpu: &sampa::Gpu,
    (m, full, kernels): (&Model, usize, Kernels),
    (config, nesterov): (OptimizerConfig, bool),
    placement: Placement,
) -> String {
    let mut t = Trainer::new(gpu, spec(m, config, kernels), &m.init(3)).unwrap();
    t.set_placement(gpu, placement).unwrap();
    let losses: Vec<f32> = batches(m, full)
        .iter()
        .enumerate()
        .map(|(i, b)| t.step(gpu, b, hyper(i, nesterov)).unwrap()[0])
        .collect();
    record(&gpu.read(t.params()).unwrap(), &losses)
}

/// The schedules an optimizer of `kind` runs under: all of them for SAMPa (dual with the
/// worker on a second handle of `gpu`, and on `other` when given), else serial.
fn placements(
    kind: OptimizerKind,
    (gpu, other): (&sampa::Gpu, Option<&sampa::Gpu>),
    m: &Model,
    kernels: Kernels,
) -> Vec<(&'static str, Placement)> {
    if kind != OptimizerKind::Sampa {
        return vec![("serial", Placement::Serial)];
    }
    let dual = |g: &sampa::Gpu| {
        let t = ThreadTransport::spawn(g.clone(), m.clone(), 0.1, kernels).unwrap();
        Placement::Dual(Box::new(t))
    };
    let mut p = vec![
        ("serial", Placement::Serial),
        ("interleaved", Placement::Interleaved),
        ("fused", Placement::Fused),
        ("dual-same-device", dual(gpu)),
    ];
    if let Some(o) = other {
        p.push(("dual-two-adapters", dual(o)));
    }
    p
}

/// Every case on `gpu` (and `other`, a second adapter for the dual schedule, if any).
fn all_cases(gpu: &sampa::Gpu, other: Option<&sampa::Gpu>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for variant in Variant::on(gpu) {
        // The golden values were recorded with texture reads in the optimizer kernels, which
        // the storage form equals bit for bit (the sgd kernel tests check that).
        let kernels = Kernels::uniform(variant, VectorForm::Texture);
        for (model_name, m, full) in models() {
            for (name, config, nesterov) in optimizers() {
                // The other variants only for a few cases: they add in the same order.
                if variant != Variant::Register && !["sgd", "sam", "sampa-0.2"].contains(&name) {
                    continue;
                }
                let placements = placements(config.kind, (gpu, other), &m, kernels);
                for (schedule, placement) in placements {
                    let key = format!("{model_name} {name} {schedule} {}", variant.name());
                    let got = trajectory(gpu, (&m, full, kernels), (config, nesterov), placement);
                    eprintln!("{}: {key}: {got}", gpu.adapter.short());
                    out.insert(key, got);
                }
            }
        }
    }
    out
}

type Golden = BTreeMap<String, BTreeMap<String, String>>;

/// f32 against f64 after 12 steps of the MLP: rounding in the products' sums grows through
/// the steps (to at most 3.4e-7 of the largest parameter on both llvmpipe adapters); 1e-5
/// leaves room for other summation orders (split-k, another adapter's FMA contraction) and
/// stays far below an algorithmic slip (a wrong batch, sign or coefficient moves parameters by
/// 1e-3 and more).
const F64_TOL: f64 = 1e-5;

/// The MLP's serial trajectory under every optimizer with `gpu`'s tuned kernels (on an
/// adapter the golden file knows, whose bits are checked anyway, under SGD, SAM and SAMPa-0.2
/// only), each against the f64 reference: the failures. Not the CNN's: a max-pool picks one
/// of two inputs that differ by less than the rounding, so f32 and f64 may part there (USAM's
/// CNN trajectory ended 8.7e-4 from f64 on both llvmpipe adapters, every other one within
/// 3e-7); the CNN's layers meet f64 one pass at a time in tests/model.rs.
fn f64_failures(gpu: &sampa::Gpu, known: bool) -> Vec<String> {
    let kernels = sampa::tuning::choose(gpu).unwrap();
    let mut out = Vec::new();
    for (model_name, m, full) in models().into_iter().filter(|m| m.0 == "mlp") {
        for (name, config, nesterov) in optimizers() {
            if known && !["sgd", "sam", "sampa-0.2"].contains(&name) {
                continue;
            }
            let (x0, data) = (m.init(3), batches(&m, full));
            let spec = spec(&m, config, kernels);
            let run = parity::parity(gpu, spec, &x0, &data, |t| hyper(t, nesterov));
            let p = gpu.block_on(run).unwrap();
            let what = format!("{} {model_name} {name}", gpu.adapter.short());
            eprintln!("{what}: {:.1e} of the largest parameter from f64", p.params);
            if p.params > F64_TOL || p.moved < 1e-3 {
                out.push(format!(
                    "{what}: {:.2e} of the largest parameter from the f64 trajectory (at most \
                     {F64_TOL:e}), parameters moved {:.2e}",
                    p.params, p.moved
                ));
            }
        }
    }
    out
}

#[test]
fn every_optimizer_and_schedule_follows_its_golden_trajectory() {
    let list = gpus();
    let write = std::env::var_os("SAMPA_WRITE_GOLDEN").is_some();
    let mut golden: Golden = std::fs::read_to_string(golden_path())
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let mut failures = Vec::new();
    for gpu in &list {
        // The dual schedule's second adapter: GL for the Vulkan adapter.
        let other = (gpu.adapter.backend == "Vulkan")
            .then(|| list.iter().find(|g| g.adapter.backend == "Gl"))
            .flatten();
        let got = all_cases(gpu, other);
        let key = gpu.adapter.key();
        if write {
            golden.insert(key, got);
            continue;
        }
        // Every adapter: the serial trajectories against f64. The only check on an adapter
        // the file does not know (its driver, say), and a check of that check on one it does.
        let known = golden.get(&key);
        failures.extend(f64_failures(gpu, known.is_some()));
        let Some(want) = known else {
            eprintln!(
                "{key}: no golden trajectories (they are recorded per adapter and driver), so \
                 this adapter was checked against the f64 reference only"
            );
            continue;
        };
        for (case, value) in &got {
            // `reg8` is `reg` with fewer rows per invocation: the same sums in the same order,
            // so its golden trajectories are `reg`'s. (`subgroup` has its own: its grid differs
            // from `tiled`'s, so split-k slices its long sums differently.)
            let same = case.strip_suffix(" reg8").map(|c| format!("{c} reg"));
            match want.get(case).or_else(|| same.and_then(|c| want.get(&c))) {
                Some(w) if w == value => {}
                Some(w) => failures.push(format!("{key} {case}: got {value}, golden {w}")),
                None if case.contains("two-adapters") => {}
                None => failures.push(format!("{key} {case}: no golden value")),
            }
        }
    }
    if write {
        let text = serde_json::to_string_pretty(&golden).unwrap();
        std::fs::create_dir_all(golden_path().parent().unwrap()).unwrap();
        std::fs::write(golden_path(), text + "\n").unwrap();
        return;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
