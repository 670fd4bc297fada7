//! Headless Chromium through chromedriver's WebDriver HTTP API, for the browser pages' tests:
//! start the driver, open a session with or without WebGPU, navigate, run scripts, wait for a
//! page's `#status` state, take screenshots.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// What the browser tests need, for their failure messages.
pub const SETUP: &str = "needs web/build.sh to have run and chromium + chromedriver installed \
                     (apt-get install chromium chromium-driver); scripts/test does both";

/// One HTTP/1.1 request to 127.0.0.1:`port`; returns the JSON body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
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

pub struct Driver {
    port: u16,
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start chromedriver ({e}): this test {SETUP}"));
    let d = Driver { port, child };
    wait_for_listener(port, "chromedriver");
    d
}

/// Wait (20 s at most) until something accepts connections on 127.0.0.1:`port`.
pub fn wait_for_listener(port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    pub fn open(driver: &Driver, webgpu: bool) -> Session<'_> {
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

    pub fn call(&self, method: &str, what: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}/{what}", self.id);
        http(self.driver.port, method, &path, body)["value"].clone()
    }

    pub fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "execute/sync",
            Some(&json!({"script": script, "args": []})),
        )
    }

    /// Poll `#status`'s data-state until it is one of `want`.
    pub fn wait_for(&self, want: &[&str], limit: Duration) -> String {
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

pub fn decode_base64(s: &str) -> Vec<u8> {
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
