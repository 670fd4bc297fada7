//! File writes that never leave a half-written file behind, and timestamps for file names.

use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` through a temporary file in the same directory, then rename it
/// over `path`: readers see the old file or the new one, never a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Remove the temporary files [`write_atomic`] left in `dir` when its process was killed
/// mid-write (`.NAME.tmpPID`, the process `PID` no longer running); returns how many. Where
/// processes cannot be looked up (no /proc), only this process's own are taken for live.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let live = |pid: u32| {
        pid == std::process::id()
            || (Path::new("/proc/self").exists() && Path::new(&format!("/proc/{pid}")).exists())
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            // `.NAME.tmpPID`, or `.STEM.tmpPID.png` for a plot (`run::plot::png`).
            let pid = name
                .strip_prefix('.')
                .and_then(|n| n.rsplit_once(".tmp"))
                .and_then(|(_, pid)| pid.strip_suffix(".png").unwrap_or(pid).parse::<u32>().ok());
            pid.is_some_and(|p| !live(p)) && std::fs::remove_file(e.path()).is_ok()
        })
        .count()
}

/// `YYYYmmdd-HHMMSS` in UTC.
pub fn timestamp() -> String {
    let (year, month, day, rem) = utc_now();
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `YYYY-mm-ddTHH:MM:SSZ` (ISO 8601, UTC).
pub fn iso_timestamp() -> String {
    let (year, month, day, rem) = utc_now();
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Today's civil date in UTC and the seconds since midnight.
fn utc_now() -> (i64, i64, i64, u64) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_processes_temporary_files_are_removed() {
        let d = std::env::temp_dir().join(format!("sampa-stale-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        // Above Linux's largest pid (4194304): no such process.
        let dead = d.join(".checkpoint.safetensors.tmp4294967");
        let ours = d.join(format!(".model.safetensors.tmp{}", std::process::id()));
        let other = d.join("notes.tmp1");
        for f in [&dead, &ours, &other] {
            std::fs::write(f, "x").unwrap();
        }
        assert_eq!(remove_stale_temps(&d), 1);
        assert!(!dead.exists() && ours.exists() && other.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}

/// Paths in `config.json` and checkpoints, stored without loss: a path that is valid UTF-8 is
/// a JSON string, as always; one that is not (any bytes but NUL are a Unix file name) is an
/// object `{"unix_bytes": [...]}` holding its bytes. Reading takes either form, so every
/// config written before stays readable. Use with `#[serde(with = "crate::fsutil::path")]`.
pub mod path {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::path::{Path, PathBuf};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Text(String),
        Bytes { unix_bytes: Vec<u8> },
    }

    fn store(p: &Path) -> Stored {
        match p.to_str() {
            Some(s) => Stored::Text(s.to_string()),
            #[cfg(unix)]
            None => Stored::Bytes {
                unix_bytes: std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()).to_vec(),
            },
            // Elsewhere paths are Unicode but for unpaired surrogates; those are replaced.
            #[cfg(not(unix))]
            None => Stored::Text(p.to_string_lossy().into_owned()),
        }
    }

    fn load<E: serde::de::Error>(s: Stored) -> Result<PathBuf, E> {
        match s {
            Stored::Text(t) => Ok(PathBuf::from(t)),
            #[cfg(unix)]
            Stored::Bytes { unix_bytes } => {
                use std::os::unix::ffi::OsStringExt;
                Ok(PathBuf::from(std::ffi::OsString::from_vec(unix_bytes)))
            }
            #[cfg(not(unix))]
            Stored::Bytes { .. } => Err(E::custom(
                "a path stored as Unix bytes cannot be used on this system",
            )),
        }
    }

    /// Serialize a path.
    pub fn serialize<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
        store(p).serialize(s)
    }

    /// Deserialize a path.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        load(Stored::deserialize(d)?)
    }

    /// The same for `Option<PathBuf>`: `#[serde(with = "crate::fsutil::path::option")]`.
    pub mod option {
        use super::*;

        /// Serialize an optional path.
        pub fn serialize<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
            p.as_deref().map(store).serialize(s)
        }

        /// Deserialize an optional path.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
            Option::<Stored>::deserialize(d)?.map(load).transpose()
        }
    }
}
