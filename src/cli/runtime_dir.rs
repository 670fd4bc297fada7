//! A runtime directory for Mesa. Its EGL (the GL adapter) prints "XDG_RUNTIME_DIR is invalid
//! or not set in the environment" on every start without one, twice per command, and users
//! read it as sampa's error. Outside a desktop session (ssh, containers, CI) it is usually
//! unset, so the CLI gives Mesa a private one, as `scripts/setup` does for the scripts.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::PathBuf;

/// Point XDG_RUNTIME_DIR at `$TMPDIR/sampa-xdg-<uid>` (mode 0700) when it is unset or names no
/// directory. Must run before any other thread starts: it sets an environment variable.
pub fn ensure() {
    let current = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    if current.is_some_and(|d| d.is_dir()) {
        return;
    }
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("sampa-xdg-{uid}"));
    let made = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    // Another user's directory of that name is not ours to use.
    let ours = std::fs::metadata(&dir).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    if (made.is_ok() || dir.is_dir()) && ours {
        // SAFETY: called first thing in main, while the process has one thread, so nothing
        // reads the environment concurrently.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}
