//! Where sampa keeps what it measures or compiles once per machine (the kernel tuning, the
//! schedule choices, the driver's compiled pipelines): `$SAMPA_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/sampa`, else `~/.cache/sampa`. A module of its own, below everything that
//! caches, so none of them has to import another for the path.

use std::path::PathBuf;

/// The cache directory, or `None` when no variable names one.
pub fn cache_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("SAMPA_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("sampa"))
}
