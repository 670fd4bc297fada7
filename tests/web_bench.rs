#![cfg(not(target_arch = "wasm32"))]
//! The benchmark page end to end: web/bench.html runs the suite's browser part on headless
//! Chromium's WebGPU adapter (SwiftShader), and `sampa bench compare` accepts its report
//! beside a native run of the same parts, matching their cases. Without WebGPU the page shows
//! the fallback message.

mod common;

use common::chrome::{SETUP, Session, start_driver};
use serde_json::json;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn sampa(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_browser_report_compares_beside_a_native_one() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        root.join("pkg/sampa_bg.wasm").is_file(),
        "web/pkg is missing: this test {SETUP}"
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || sampa::serve::serve(root, listener));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-bench");
    std::fs::create_dir_all(&out).unwrap();
    let parts = "matmul,dispatch,bandwidth,toy";
    let page_url = format!("http://127.0.0.1:{port}/bench.html?quick=1&autostart=1&only={parts}");

    let driver = start_driver();
    let browser = {
        let page = Session::open(&driver, true);
        page.call("POST", "url", Some(&json!({ "url": page_url })));
        let state = page.wait_for(&["done", "error"], Duration::from_secs(400));
        let status = page.js("return document.getElementById('status').textContent");
        assert_eq!(state, "done", "{status}");
        let rows = page.js("return document.querySelectorAll('#results tbody tr').length");
        eprintln!("{status}; {rows} rows shown");
        page.js("return window.sampaBenchReport")
            .as_str()
            .unwrap()
            .to_string()
    };
    let browser_path = out.join("browser.json");
    std::fs::write(&browser_path, &browser).unwrap();
    let report =
        sampa::bench::Report::parse(&browser).expect("the page's report follows the schema");
    assert_eq!(report.adapters.len(), 1);
    assert_eq!(report.adapters[0].backend, "BrowserWebGpu");
    assert!(
        report
            .results
            .iter()
            .any(|r| r.suite == "matmul" && r.host.is_some())
    );

    let native_path = out.join("native.json");
    let native = sampa(&[
        "bench",
        "--quick",
        "--only",
        parts,
        "--sizes",
        "128,256,512",
        "--adapter",
        "0",
        "--json",
        native_path.to_str().unwrap(),
    ]);
    assert!(
        native.status.success(),
        "{}",
        String::from_utf8_lossy(&native.stderr)
    );
    let cmp = sampa(&[
        "bench",
        "compare",
        native_path.to_str().unwrap(),
        browser_path.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&cmp.stdout);
    eprintln!("{text}");
    assert!(
        cmp.status.success(),
        "{}",
        String::from_utf8_lossy(&cmp.stderr)
    );
    for case in [
        "square 256x256x256 tiled",
        "empty dispatch, one per submission",
        "copy 16 MiB",
        "SAMPa-0.2, d=2",
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(case))
            .unwrap_or_else(|| panic!("no {case:?} row"));
        assert!(line.contains('×'), "{case}: no ratio in {line:?}");
    }

    // Without WebGPU the page says what to do instead of going blank.
    let page = Session::open(&driver, false);
    page.call("POST", "url", Some(&json!({ "url": page_url })));
    page.wait_for(&["no-webgpu"], Duration::from_secs(60));
    let text = page
        .js("const f = document.getElementById('fallback'); return f.hidden ? '' : f.textContent");
    assert!(
        text.as_str().unwrap().contains("--enable-unsafe-webgpu"),
        "fallback: {text}"
    );
}
