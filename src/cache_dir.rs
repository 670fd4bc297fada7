//! Where sampa keeps what it measures or compiles once per machine (the kernel tuning, the
//! schedule choices, the driver's compiled pipelines): `$SAMPA_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/sampa`, else `~/.cache/sampa`. A module of its own, below everything that
//! caches, so none of them has to import another for the path. An empty variable counts as
//! unset, and so does a relative `XDG_CACHE_HOME`, as the XDG Base Directory rules say (an
//! empty one would otherwise put the cache in the working directory).

use std::path::PathBuf;

/// The cache directory, or `None` when no variable names one.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("SAMPA_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("sampa"))
}
