#![cfg(not(target_arch = "wasm32"))]
//! The browser demo end to end: serve web/ (built by web/build.sh), drive headless Chromium
//! through chromedriver's WebDriver HTTP API, wait until the page reports a finished run, read
//! each method's numbers from the page and compare them with `sampa toy`'s; save a screenshot;
//! then check that without WebGPU the page shows its fallback message.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const SETUP: &str = "needs web/build.sh to have run and chromium + chromedriver installed \
                     (apt-get install chromium chromium-driver); scripts/test does both";

/// One HTTP/1.1 request to 127.0.0.1:`port`; returns the JSON body.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("chromedriver is listening");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read the head, then exactly Content-Length bytes: chromedriver may keep the connection.
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let (head_end, length) = loop {
        let n = s.read(&mut buf).expect("a response from chromedriver");
        assert!(n > 0, "chromedriver closed the connection early");
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..i]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .expect("a Content-Length header");
            break (i + 4, length);
        }
    };
    while raw.len() < head_end + length {
        let n = s.read(&mut buf).expect("the response body");
        assert!(n > 0, "chromedriver closed the connection mid-body");
        raw.extend_from_slice(&buf[..n]);
    }
    let payload = String::from_utf8_lossy(&raw[head_end..head_end + length]);
    serde_json::from_str(&payload)
        .unwrap_or_else(|e| panic!("bad JSON from chromedriver ({e}): {payload}"))
}

struct Driver {
    port: u16,
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start chromedriver ({e}): this test {SETUP}"));
    let d = Driver { port, child };
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    d
}

struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    fn open(driver: &Driver, webgpu: bool) -> Session<'_> {
        let profile =
            std::env::temp_dir().join(format!("sampa-chromium-{}-{webgpu}", std::process::id()));
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--window-size=1200,1300".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        if webgpu {
            args.push("--enable-unsafe-webgpu".into());
        }
        let mut options = json!({ "args": args });
        let binary = std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
        if Path::new(&binary).exists() {
            options["binary"] = json!(binary);
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let r = http(driver.port, "POST", "/session", Some(&caps));
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session ({r}); this test {SETUP}"))
            .to_string();
        Session { driver, id }
    }

    fn call(&self, method: &str, what: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}/{what}", self.id);
        http(self.driver.port, method, &path, body)["value"].clone()
    }

    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "execute/sync",
            Some(&json!({"script": script, "args": []})),
        )
    }

    /// Poll `#status`'s data-state until it is one of `want`.
    fn wait_for(&self, want: &[&str], limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let state = self.js("return document.getElementById('status').dataset.state");
            let state = state.as_str().unwrap_or("").to_string();
            if want.contains(&state.as_str()) {
                return state;
            }
            assert!(
                start.elapsed() < limit,
                "the page stayed {state:?}: {}",
                self.js("return document.getElementById('status').textContent")
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = http(
            self.driver.port,
            "DELETE",
            &format!("/session/{}", self.id),
            None,
        );
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| !b"=\r\n".contains(c))
        .map(val)
        .collect();
    bytes
        .chunks(4)
        .flat_map(|c| {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &v)| n | (v as u32) << (18 - 6 * i));
            let out = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.into_iter().take(c.len() - 1)
        })
        .collect()
}

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
