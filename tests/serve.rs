#![cfg(not(target_arch = "wasm32"))]
//! `sampa serve`'s server against what a careless or hostile client sends: path traversal
//! (plain, percent-encoded, through symlinks), an oversized request line, hundreds of idle
//! connections, other methods; and what a browser needs: HEAD, percent-decoding, MIME types,
//! `no-store`, and a listener on 127.0.0.1 only.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A served directory with a page, a file with a space in its name, a wasm module, and two
/// symlinks that lead out of it.
fn site(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("sampa-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("index.html"), "<p>the page</p>").unwrap();
    std::fs::write(root.join("a b.txt"), "spaced").unwrap();
    std::fs::write(root.join("pkg/m.wasm"), b"\0asm").unwrap();
    std::fs::write(root.join("main.js"), "export {};").unwrap();
    std::os::unix::fs::symlink("/etc", root.join("etc-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("passwd-link")).unwrap();
    root
}

fn start(root: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || sampa::serve::serve(root, listener));
    port
}

/// Send `request` as it is (no client-side normalisation) and read the whole answer.
fn raw(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get(port: u16, method: &str, target: &str) -> String {
    raw(
        port,
        format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

/// `sampa serve` on `root` in a process of its own (so that its threads can be counted),
/// once it accepts connections.
fn spawn_serve(root: &std::path::Path) -> (Server, u16) {
    let port = common::chrome::free_port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sampa"))
        .args(["serve", "--port", &port.to_string(), "--dir"])
        .arg(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    common::chrome::wait_for_listener(port, "sampa serve");
    (server, port)
}

/// Kills the server when the test ends, passed or not.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serves_files_with_head_percent_decoding_and_types() {
    let port = start(site("files"));
    let page = get(port, "GET", "/");
    assert_eq!(status(&page), 200, "{page}");
    assert!(page.ends_with("<p>the page</p>"), "{page}");
    assert_eq!(header(&page, "cache-control"), Some("no-store"));
    let spaced = get(port, "GET", "/a%20b.txt");
    assert_eq!(status(&spaced), 200, "{spaced}");
    assert!(spaced.ends_with("spaced"));
    let head = get(port, "HEAD", "/index.html");
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(header(&head, "content-length"), Some("15"));
    assert!(head.ends_with("\r\n\r\n"), "HEAD sent a body: {head:?}");
    let wasm = get(port, "GET", "/pkg/m.wasm");
    assert_eq!(header(&wasm, "content-type"), Some("application/wasm"));
    let js = get(port, "GET", "/main.js");
    assert!(
        header(&js, "content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(status(&get(port, "GET", "/missing.html")), 404);
    let post = get(port, "POST", "/index.html");
    assert_eq!(status(&post), 405, "{post}");
    assert_eq!(header(&post, "allow"), Some("GET, HEAD"));
}

#[test]
fn nothing_outside_the_root_is_served() {
    let port = start(site("traversal"));
    for target in [
        "/../../../../etc/passwd",
        "/pkg/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/pkg/%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/etc-link/passwd",
        "/etc%2Dlink/passwd",
        "/passwd-link",
        "//etc/passwd",
    ] {
        let answer = get(port, "GET", target);
        assert!(
            !answer.contains("root:"),
            "{target} leaked /etc/passwd: {answer}"
        );
        assert!([400, 404].contains(&status(&answer)), "{target}: {answer}");
    }
}

#[test]
fn an_oversized_request_line_is_refused_without_buffering_it() {
    let port = start(site("oversized"));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // 64 MiB of request line, sent in pieces until the server stops reading.
    let chunk = vec![b'a'; 1 << 16];
    let _ = s.write_all(b"GET /");
    let mut sent = 0usize;
    while sent < 64 << 20 && s.write_all(&chunk).is_ok() {
        sent += chunk.len();
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    eprintln!(
        "sent {sent} bytes of request line before the server closed; it answered {:?}",
        answer.lines().next()
    );
    assert!(sent < 64 << 20, "the server read all 64 MiB");
    assert!(
        answer.is_empty() || status(&answer) == 431 || status(&answer) == 414,
        "{answer}"
    );
    assert_eq!(status(&get(port, "GET", "/")), 200, "the server stopped");
}

#[test]
fn a_flood_of_idle_connections_past_the_cap_cannot_lock_out_a_request() {
    // 600 connections that send nothing, more than the server's 512 slots: each one past the
    // cap closes the oldest idle one, so a real request right after the flood is served at
    // once instead of waiting for the idle ones to time out.
    let (_server, port) = spawn_serve(&site("flood"));
    let idle: Vec<TcpStream> = (0..600)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(status(&get(port, "GET", "/")), 200);
    eprintln!(
        "a request after 600 idle connections took {:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    // The oldest idle connections were the ones closed.
    let mut first = &idle[0];
    first
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        first.read(&mut buf).unwrap_or(1),
        0,
        "the oldest idle connection was closed"
    );
}

#[test]
fn idle_connections_neither_block_others_nor_hold_threads() {
    let (server, port) = spawn_serve(&site("idle"));
    assert_eq!(status(&get(port, "GET", "/")), 200);
    let before = threads(server.0.id());
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(status(&get(port, "GET", "/")), 200);
    let during = threads(server.0.id());
    eprintln!(
        "threads: {before} before 200 idle connections, {during} with them; a request among them took {:?}",
        t.elapsed()
    );
    assert!(during <= before + 4, "{before} → {during} threads");
    // The server closes an idle connection once its head timeout passes.
    let mut one = idle.into_iter().next().unwrap();
    one.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    let n = one.read(&mut buf).unwrap_or(0);
    eprintln!("an idle connection was closed after {:?}", t.elapsed());
    assert_eq!(n, 0, "expected the server to close the idle connection");
    assert!(t.elapsed() < Duration::from_secs(15));
}

#[test]
fn sampa_serve_listens_on_127_0_0_1_only() {
    let (server, port) = spawn_serve(&site("bind"));
    // /proc/net/tcp lists listeners (state 0A) as hex address:port; 127.0.0.1 is 0100007F.
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let tcp6 = std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    let suffix = format!(":{port:04X}");
    let listening: Vec<&str> = tcp
        .lines()
        .chain(tcp6.lines())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 3 && f[1].ends_with(&suffix) && f[3] == "0A").then_some(f[1])
        })
        .collect();
    assert_eq!(status(&get(port, "GET", "/")), 200);
    drop(server);
    assert_eq!(listening, [format!("0100007F{suffix}")], "listeners");
}
