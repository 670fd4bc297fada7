#![cfg(not(target_arch = "wasm32"))]
//! The browser page's training session, run natively: its defaults are `sampa train`'s, and
//! with the same settings it trains bit for bit as `sampa train` does (the same test loss and
//! accuracy after each optimizer's epoch), so the page's figures can be held against a native
//! run. Its weights load with `sampa train --init`.

mod common;

use clap::Parser;
use common::cli::{sampa, scratch};
use common::gpus;
use sampa::kernels::Kernels;
use sampa::run::TrainConfig;
use sampa::train::session::{Session, Settings};

#[derive(Parser)]
struct Train {
    #[command(flatten)]
    config: TrainConfig,
}

#[test]
fn the_session_defaults_are_sampa_trains() {
    let c = Train::parse_from(["train"]).config;
    let s = Settings::default();
    assert_eq!(
        (s.model.as_str(), &s.hidden, s.epochs, s.batch, s.seed),
        (c.model.as_str(), &c.hidden, c.epochs, c.batch, c.seed)
    );
    assert_eq!(s.hyper(), c.base_settings().hyper(c.lr));
    assert_eq!((s.rho, s.lambda), (c.optimizer.rho, c.optimizer.lambda));
    assert_eq!(s.schedule, c.schedule);
    assert!(c.shuffle && !c.normalize && c.label_smoothing == 0.0 && c.augment.is_none());
}

/// The test figures `sampa train --epochs 1` records for `optimizer`.
fn native(optimizer: &str, lambda: &str) -> (f64, f64, usize) {
    let out = scratch("session", optimizer);
    let run = out.join("run");
    let args = [
        "train",
        "--data",
        "embedded",
        "--epochs",
        "1",
        "--optimizer",
        optimizer,
        "--lambda",
        lambda,
        "--adapter",
        "vulkan",
        "--out",
    ];
    let mut args: Vec<&str> = args.to_vec();
    args.push(run.to_str().unwrap());
    let o = sampa(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let epoch: serde_json::Value = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .find(|v: &serde_json::Value| v["kind"] == "epoch")
        .unwrap();
    (
        epoch["test_loss"].as_f64().unwrap(),
        epoch["test_accuracy"].as_f64().unwrap(),
        epoch["steps"].as_u64().unwrap() as usize,
    )
}

#[test]
fn a_session_trains_as_sampa_train_does() {
    let all = gpus();
    let gpu = all.iter().find(|g| g.adapter.backend == "Vulkan");
    let gpu = gpu.expect("a Vulkan adapter (apt-get install mesa-vulkan-drivers)");
    let settings = Settings::from_query("optimizers=sgd,sam,sampa&lambda=0.2&epochs=1").unwrap();
    let splits = sampa::data::idx::embedded().unwrap();
    // The kernel forms `sampa train` picks on this adapter (the tuned ones): the same forms give
    // the same bits, while the storage products (the browser's GPU default) split long sums
    // and so round differently from the register ones.
    let kernels = sampa::tuning::choose(gpu).unwrap();
    let mut session = Session::new(settings, splits, kernels).unwrap();
    session.check_fits(gpu).unwrap();
    let mut events = 0;
    while !session.done() {
        events += gpu.block_on(session.advance(gpu, 7)).unwrap().len();
    }
    let out = scratch("session", "weights");
    for (f, (name, lambda)) in
        session
            .finished()
            .iter()
            .zip([("sgd", "0.2"), ("sam", "0.2"), ("sampa", "0.2")])
    {
        let last = f.epochs.last().unwrap();
        let (loss, acc, steps) = native(name, lambda);
        eprintln!(
            "{}: session {:.4}% {:.6} ({} steps, {}), native {:.4}% {loss:.6}",
            f.optimizer,
            100.0 * last.test_acc,
            last.test_loss,
            f.steps,
            f.schedule,
            100.0 * acc
        );
        assert_eq!((last.test_acc, last.test_loss, f.steps), (acc, loss, steps));
        assert_eq!(f.grads, 1 + (name != "sgd") as usize);
        assert_eq!(f.depth, 1 + (name == "sam") as usize);
        // The weights the page offers start a native run.
        let info = session.model_info();
        let bytes =
            sampa::nn::weights::to_safetensors(session.model(), (&f.params, &[]), &info).unwrap();
        let path = out.join(format!("{name}.safetensors"));
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            sampa::run::checkpoint::load(session.model(), &path).unwrap(),
            f.params
        );
        // It describes its model and classes, as a native run's model file does.
        let read = sampa::run::checkpoint::load_info(&path).unwrap().unwrap();
        assert_eq!(read, info);
        assert_eq!(read.class_names[9], "Ankle boot");
    }
    assert_eq!(session.finished()[2].optimizer, "sampa-0.2");
    // Starts, steps, epochs and ends: 47 steps of 128 over 6,000 images, per optimizer.
    assert_eq!(events, 3 * (1 + 47 + 2));
}

#[test]
fn a_batch_too_large_for_the_adapter_is_refused_before_anything_is_allocated() {
    let all = gpus();
    let gpu = &all[0];
    let settings = Settings::from_query("batch=10000000").unwrap();
    let splits = sampa::data::idx::embedded().unwrap();
    let session = Session::new(settings, splits, Kernels::GPU).unwrap();
    let e = session.check_fits(gpu).unwrap_err().to_string();
    assert!(
        e.contains("the largest activation of mlp 784-256-256-10 at batch 10000000")
            && e.contains("use a smaller model or batch"),
        "{e}"
    );
}

/// The page's ViT: its session builds timm's layout for the page's images, fits the adapter,
/// and AdamW under SAMPa (sparing 1-D tensors from weight decay) lowers its loss over its
/// first 20 steps.
#[test]
fn the_page_trains_its_vit() {
    let all = gpus();
    let gpu = &all[0];
    let query = "model=vit-2-64-4-p7&optimizers=sampa&base=adamw&lr=0.001&batch=64\
                 &schedule=serial&wd=0.05&no-wd-1d=1";
    let settings = Settings::from_query(query).unwrap();
    let splits = sampa::data::idx::embedded().unwrap();
    let mut session = Session::new(settings, splits, common::kernels(gpu)).unwrap();
    let spec = sampa::nn::vits::VitSpec::named("vit-2-64-4-p7").unwrap();
    let want = sampa::nn::Model::vit(spec, (1, 28, 28), 10).unwrap();
    assert_eq!(session.model().params, want.params);
    session.check_fits(gpu).unwrap();
    let mut losses = Vec::new();
    while losses.len() < 20 {
        for e in gpu.block_on(session.advance(gpu, 5)).unwrap() {
            if let sampa::train::session::Event::Step { loss, .. } = e {
                losses.push(loss);
            }
        }
    }
    let mean = |l: &[f32]| l.iter().sum::<f32>() / l.len() as f32;
    let (first, last) = (mean(&losses[..5]), mean(&losses[15..20]));
    eprintln!("the page's ViT: mean loss {first:.4} over steps 1-5, {last:.4} over 16-20");
    assert!(
        losses.iter().all(|l| l.is_finite()) && last < 0.9 * first,
        "{losses:?}"
    );
}
