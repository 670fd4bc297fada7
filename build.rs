//! Records the git commit the binary is built from, for benchmark reports
//! (`SAMPA_GIT_COMMIT`, `unknown` outside a git checkout), and writes the WGSL sources without
//! their comments to `$OUT_DIR/wgsl/`, for the browser build (see `wgsl!` in `src/lib.rs`).

use std::path::Path;
use std::process::Command;

fn main() {
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=SAMPA_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=src/kernels");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("wgsl");
    // Start empty, so a renamed or deleted shader leaves no stale copy behind.
    if out.exists() {
        std::fs::remove_dir_all(&out).expect("OUT_DIR is writable");
    }
    strip_dir(Path::new("src"), Path::new("src/kernels"), &out);
}

/// Every `.wgsl` file under `dir`, without comments, blank lines and indentation, at the same
/// path relative to `root` under `out`. WGSL has no string literals, so `//` always starts a
/// comment; the sources use no block comments.
fn strip_dir(root: &Path, dir: &Path, out: &Path) {
    let entries = std::fs::read_dir(dir).expect("the kernels' folder is readable");
    for entry in entries.map(|e| e.expect("a readable folder entry")) {
        let path = entry.path();
        if path.is_dir() {
            strip_dir(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "wgsl") {
            let text = std::fs::read_to_string(&path).expect("a readable WGSL file");
            let stripped: String = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .map(|l| format!("{l}\n"))
                .collect();
            let dest = out.join(path.strip_prefix(root).expect("under src"));
            std::fs::create_dir_all(dest.parent().expect("a parent folder")).expect("OUT_DIR");
            std::fs::write(dest, stripped).expect("OUT_DIR is writable");
        }
    }
}
