#![cfg(not(target_arch = "wasm32"))]
//! The browser demo end to end: serve web/ (built by web/build.sh), drive headless Chromium
//! through chromedriver's WebDriver HTTP API, wait until the page reports a finished run, read
//! each method's numbers from the page and compare them with `sampa toy`'s; save a screenshot;
//! then check that without WebGPU the page shows its fallback message.

mod common;

use common::chrome::{SETUP, Session, decode_base64, start_driver};
use serde_json::json;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `sampa toy`'s ‖∇f‖² per method, from its toy.csv.
fn native_toy(out: &Path) -> std::collections::BTreeMap<String, Vec<f64>> {
    let status = Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args(["toy", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let csv = std::fs::read_to_string(out.join("toy.csv")).unwrap();
    let mut by = std::collections::BTreeMap::<String, Vec<f64>>::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        by.entry(f[0].to_string())
            .or_default()
            .push(f[2].parse().unwrap());
    }
    by
}

#[test]
fn the_page_runs_every_method_on_webgpu_and_agrees_with_sampa_toy() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        root.join("pkg/sampa_bg.wasm").is_file(),
        "web/pkg is missing: this test {SETUP}"
    );
    let wasm_bytes = std::fs::metadata(root.join("pkg/sampa_bg.wasm"))
        .unwrap()
        .len();
    eprintln!("wasm payload after wasm-bindgen: {wasm_bytes} bytes");
    assert!(
        wasm_bytes <= 1_000_000,
        "the wasm payload is {wasm_bytes} bytes (limit 1 MB)"
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || sampa::serve::serve(root, listener));
    let url = json!({"url": format!("http://127.0.0.1:{port}/index.html")});
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-page");
    std::fs::create_dir_all(&out).unwrap();
    let native = native_toy(&out.join("toy"));

    let driver = start_driver();
    {
        let page = Session::open(&driver, true);
        page.call("POST", "url", Some(&url));
        page.wait_for(&["done"], Duration::from_secs(180));
        let first = page
            .js("return window.sampaTimings.firstPoints")
            .as_f64()
            .unwrap();
        // Reported, not asserted: speed belongs in benchmarks, not in pass/fail tests.
        eprintln!("page load to first plotted points: {first:.0} ms");
        let adapter = page.js("return document.getElementById('adapter').textContent");
        eprintln!("{}", adapter.as_str().unwrap_or(""));
        // The final values the page shows, then the whole traces it computed.
        let shown = page.js(
            "return Array.from(document.querySelectorAll('#results tbody tr')).map(r => \
             [r.dataset.method, Number(r.querySelector('.final').dataset.value)])",
        );
        let results = page.js("return window.sampaResults");
        let shown = shown.as_array().expect("a results table");
        assert_eq!(shown.len(), 6, "six methods: {shown:?}");
        for row in shown {
            let (m, final_shown) = (row[0].as_str().unwrap(), row[1].as_f64().unwrap());
            let page_trace: Vec<f64> = results[m]["gradNormSq"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(
                final_shown,
                *page_trace.last().unwrap(),
                "{m}: table vs trace"
            );
            let want = &native[m];
            assert_eq!(page_trace.len(), want.len(), "{m}: steps");
            let a = sampa::toy::agreement(want, &page_trace);
            eprintln!(
                "{m}: page vs sampa toy: first 50 steps at {:.2} of the 1e-5 tolerance, plateaus differ by {:.1e}; final {final_shown:.4e} vs {:.4e}",
                a.early,
                a.plateau,
                want.last().unwrap()
            );
            assert!(a.holds(m == "gd"), "{m}: {a:?}");
        }
        // Both plots have been drawn: count painted pixels on each canvas.
        let painted = page.js(
            "return ['conv', 'paths'].map(id => { const c = document.getElementById(id); \
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
             let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })",
        );
        eprintln!("painted pixels (convergence plot, paths plot): {painted}");
        for (i, n) in painted.as_array().unwrap().iter().enumerate() {
            assert!(
                n.as_u64().unwrap() > 5_000,
                "plot {i} is nearly blank: {painted}"
            );
        }
        let shot = page.call("GET", "screenshot", None);
        let png = decode_base64(shot.as_str().unwrap());
        assert_eq!(&png[1..4], b"PNG");
        std::fs::write(out.join("page.png"), &png).unwrap();
        eprintln!("screenshot: {}", out.join("page.png").display());
        assert!(
            first <= 2000.0,
            "first points after {first:.0} ms (limit 2000)"
        );
    }
    // Without --enable-unsafe-webgpu there is no adapter: the page must say so, not go blank.
    let page = Session::open(&driver, false);
    page.call("POST", "url", Some(&url));
    page.wait_for(&["no-webgpu"], Duration::from_secs(60));
    let text = page
        .js("const f = document.getElementById('fallback'); return f.hidden ? '' : f.textContent");
    let text = text.as_str().unwrap();
    assert!(
        text.contains("needs WebGPU")
            && text.contains("Chrome")
            && text.contains("--enable-unsafe-webgpu"),
        "fallback message: {text}"
    );
}
