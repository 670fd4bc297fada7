#![cfg(not(target_arch = "wasm32"))]
//! The training page end to end in headless Chromium (SwiftShader's WebGPU): one epoch of the
//! MLP with SGD, SAM and SAMPa-0.2 from seed 0 gives each optimizer the test accuracy and loss
//! of `sampa train` with the same settings on lavapipe; the page stays responsive (its longest
//! main-thread task while training), starts quickly and is small; its screenshot shows the
//! curves; the weights it offers load with `sampa train --init` and score natively what the
//! page reported; a lost device stops the run with a message and keeps the curves; without
//! WebGPU the page shows the fallback message.

mod common;

use common::chrome::{SETUP, Session, decode_base64, start_driver};
use common::cli::{sampa, scratch};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

const QUERY: &str = "model=mlp&optimizers=sgd,sam,sampa&lambda=0.2&epochs=1&seed=0";

/// `sampa train`'s test loss and accuracy (%) after one epoch of `optimizer` on lavapipe.
fn native(out: &Path, optimizer: &str) -> (f64, f64) {
    let run = out.join(format!("native-{optimizer}"));
    let o = sampa(&[
        "train",
        "--data",
        "embedded",
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--seed",
        "0",
        "--optimizer",
        optimizer,
        "--lambda",
        "0.2",
        "--adapter",
        "vulkan",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let epoch = metrics
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["kind"] == "epoch")
        .unwrap();
    let loss = epoch["test_loss"].as_f64().unwrap();
    (loss, 100.0 * epoch["test_accuracy"].as_f64().unwrap())
}

/// Every results row's data attributes.
fn rows(page: &Session) -> Vec<Value> {
    let v = page.js(
        "return Array.from(document.querySelectorAll('#results tbody tr')).map(r => ({...r.dataset}))",
    );
    v.as_array().unwrap().clone()
}

fn number(row: &Value, key: &str) -> f64 {
    row[key].as_str().unwrap().parse().unwrap()
}

/// The page's weights of run `run` as a file, loaded back and scored natively on lavapipe.
fn check_weights(page: &Session, out: &Path, run: usize, page_acc: f64) {
    let b64 = page.js(&format!("return window.sampaTrain.weightsBase64({run})"));
    let path = out.join(format!("page-{run}.safetensors"));
    std::fs::write(&path, decode_base64(b64.as_str().unwrap())).unwrap();
    // `sampa train --init` starts from them...
    let cont = out.join(format!("from-page-{run}"));
    let o = sampa(&[
        "train",
        "--data",
        "embedded",
        "--steps",
        "1",
        "--epochs",
        "1",
        "--adapter",
        "vulkan",
        "--init",
        path.to_str().unwrap(),
        "--out",
        cont.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // ...and they are the page's trained parameters: natively they score what the page said.
    let splits = sampa::data::idx::embedded().unwrap();
    let model = sampa::nn::Model::for_splits("mlp", &[256, 256], &splits).unwrap();
    let x = sampa::run::checkpoint::load(&model, &path).unwrap();
    let gpus = common::gpus();
    let gpu = gpus.iter().find(|g| g.adapter.backend == "Vulkan").unwrap();
    let mut t = common::trainer(gpu, &model, 0.0, &x, Default::default(), 0);
    let opts = sampa::data::BatchOptions {
        batch: 128,
        shuffle: false,
        seed: 0,
        normalize: None,
        augment: false,
        cutout: false,
        imagenet: false,
    };
    let acc = sampa::run::evaluate(gpu, &mut t, &splits.test, &opts)
        .unwrap()
        .accuracy;
    eprintln!(
        "run {run}: the page's weights score {:.2}% natively, the page said {page_acc:.2}%",
        100.0 * acc
    );
    assert!((100.0 * acc - page_acc).abs() <= 0.2, "{acc} vs {page_acc}");
}

/// Poll `done` until it holds (two minutes at most).
fn wait_until(mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the page made no progress"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Milliseconds from the page's navigation to its first training step, with its stages.
fn start_up(page: &Session) -> f64 {
    let first = page
        .js("return window.sampaTrain.firstStepMs")
        .as_f64()
        .unwrap();
    let marks = page.js("return window.sampaTrain.marks");
    eprintln!("page load to the first step: {first:.0} ms (stages, ms from navigation: {marks})");
    first
}

#[test]
fn the_training_page_trains_as_sampa_train_does() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web");
    let wasm = root.join("pkg/sampa_bg.wasm");
    assert!(wasm.is_file(), "web/pkg is missing: this test {SETUP}");
    let wasm_bytes = std::fs::metadata(&wasm).unwrap().len();
    let data_bytes: u64 = std::fs::read_dir(root.join("pkg/data"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    eprintln!("wasm after wasm-bindgen: {wasm_bytes} bytes; data: {data_bytes} bytes");
    assert!(
        wasm_bytes <= 1_500_000,
        "wasm {wasm_bytes} bytes (limit 1.5 MB)"
    );
    assert!(
        data_bytes <= 5_000_000,
        "data {data_bytes} bytes (limit 5 MB)"
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || sampa::serve::serve(root, listener));
    let url = |q: &str| json!({"url": format!("http://127.0.0.1:{port}/train.html?{q}")});
    let out = scratch("web-train", "page");

    let driver = start_driver();
    {
        let page = Session::open(&driver, true);
        page.call("POST", "url", Some(&url(&format!("{QUERY}&autostart=1"))));
        let state = page.wait_for(&["done", "error"], Duration::from_secs(900));
        let status = page.js("return document.getElementById('status').textContent");
        assert_eq!(state, "done", "{status}");
        eprintln!(
            "{}",
            page.js("return document.getElementById('adapter').textContent")
        );
        let longest = page
            .js("return window.sampaTrain.longestTaskMs")
            .as_f64()
            .unwrap();
        let tasks = page.js("return window.sampaTrain.longTasks");
        eprintln!(
            "longest main-thread task while training: {longest:.0} ms (all tasks over 50 ms, [start, ms, while training]: {tasks})"
        );
        assert!(
            longest <= 200.0,
            "a {longest:.0} ms task froze the page (limit 200 ms)"
        );
        // The limit. Most of it is SwiftShader compiling the MLP's kernels on this
        // 2-core VM (the products in their 8-row form: 0.45 s; the 16-row form took 1.1 s and
        // put some loads past 3 s), which starts while the data is decoded.
        let first = start_up(&page);
        assert!(
            first <= 3000.0,
            "first step after {first:.0} ms (limit 3 s)"
        );

        let shot = page.call("GET", "screenshot", None);
        let png = decode_base64(shot.as_str().unwrap());
        assert_eq!(&png[1..4], b"PNG");
        std::fs::write(out.join("train.png"), &png).unwrap();
        eprintln!("screenshot: {}", out.join("train.png").display());

        let rows = rows(&page);
        let ids: Vec<&str> = rows
            .iter()
            .map(|r| r["optimizer"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["sgd", "sam", "sampa-0.2"]);
        for (run, (row, name)) in rows.iter().zip(["sgd", "sam", "sampa"]).enumerate() {
            let (acc, loss) = (number(row, "testAcc"), number(row, "testLoss"));
            let (native_loss, native_acc) = native(&out, name);
            eprintln!(
                "{name}: page {acc:.2}% {loss:.5} ({} steps, {} ms/step); native {native_acc:.2}% {native_loss:.5}",
                row["steps"].as_str().unwrap(),
                row["msPerStep"].as_str().unwrap()
            );
            assert_eq!(number(row, "steps"), 47.0, "{name}: steps");
            assert!(
                (acc - native_acc).abs() <= 0.5,
                "{name}: accuracy {acc} vs {native_acc}"
            );
            assert!(
                (loss / native_loss - 1.0).abs() <= 0.01,
                "{name}: loss {loss} vs {native_loss}"
            );
            check_weights(&page, &out, run, acc);
        }
        // Both curves are drawn with their legends; the pixels say so.
        let painted = page.js(
            "return ['loss', 'accuracy'].map(id => { const c = document.getElementById(id); \
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
             let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })",
        );
        eprintln!("painted pixels (loss, accuracy): {painted}");
        for n in painted.as_array().unwrap() {
            assert!(
                n.as_u64().unwrap() > 5_000,
                "a nearly blank chart: {painted}"
            );
        }
    }
    {
        // Pause stops the steps and Resume goes on from there; then a lost device mid-run:
        // the page says so, and what it drew stays.
        let page = Session::open(&driver, true);
        page.call(
            "POST",
            "url",
            Some(&url("optimizers=sam&epochs=1&autostart=1")),
        );
        let points = || {
            page.js("return window.sampaTrain.lossPoints()")
                .as_u64()
                .unwrap()
        };
        wait_until(|| points() >= 3);
        page.js("document.getElementById('pause').click()");
        page.wait_for(&["idle"], Duration::from_secs(60));
        let paused = points();
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(points(), paused, "steps went on while paused");
        page.js("document.getElementById('pause').click()");
        wait_until(|| points() > paused);
        page.js("window.sampaTrain.loseDevice()");
        page.wait_for(&["error"], Duration::from_secs(60));
        let status = page.js("return document.getElementById('status').textContent");
        let kept = page.js("return window.sampaTrain.lossPoints()");
        eprintln!("after losing the device: {status} ({kept} points kept)");
        assert!(status.as_str().unwrap().contains("lost"), "{status}");
        assert!(kept.as_u64().unwrap() > paused);
        // Reset clears the curves and the results, ready for another start.
        page.js("document.getElementById('reset').click()");
        page.wait_for(&["idle"], Duration::from_secs(10));
        assert_eq!(points(), 0);
        let rows = page.js("return document.querySelectorAll('#results tbody tr').length");
        assert_eq!(rows, 0);
    }
    // Without WebGPU: the toy page's fallback message.
    let page = Session::open(&driver, false);
    page.call("POST", "url", Some(&url(QUERY)));
    page.wait_for(&["no-webgpu"], Duration::from_secs(60));
    let text = page
        .js("const f = document.getElementById('fallback'); return f.hidden ? '' : f.textContent");
    let text = text.as_str().unwrap();
    assert!(
        text.contains("needs WebGPU") && text.contains("--enable-unsafe-webgpu"),
        "fallback: {text}"
    );
}
