//! A checkpoint's header metadata: the counters, the run's configuration and data, and a
//! checksum over everything else in the file, read field by field with errors that name the
//! file and the field.

use crate::error::{Error, Result};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::Path;

/// The `format` a checkpoint's metadata names. Version 2 added the checksum, the run's
/// configuration and its data's fingerprint.
pub(super) const FORMAT: &str = "sampa-checkpoint-2";

/// The metadata key of the checksum.
const CHECKSUM: &str = "checksum";

/// CRC-32 of every tensor (its name, type, shape and bytes) and every other metadata entry,
/// in sorted order, as 8 hex digits: a byte flipped anywhere after writing changes it.
pub(super) fn checksum<'a>(
    tensors: impl Iterator<Item = (&'a str, String, &'a [u8])>,
    meta: &HashMap<String, String>,
) -> String {
    let mut h = crc32fast::Hasher::new();
    let mut tensors: Vec<_> = tensors.collect();
    tensors.sort_by_key(|t| t.0);
    for (name, kind, data) in tensors {
        for part in [name.as_bytes(), kind.as_bytes(), data] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    let mut keys: Vec<_> = meta.keys().filter(|k| *k != CHECKSUM).collect();
    keys.sort();
    for k in keys {
        for part in [k.as_bytes(), meta[k].as_bytes()] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    format!("{:08x}", h.finalize())
}

/// `meta` with its checksum over `tensors` added.
pub(super) fn sealed<'a>(
    tensors: impl Iterator<Item = (&'a str, String, &'a [u8])>,
    mut meta: HashMap<String, String>,
) -> HashMap<String, String> {
    let sum = checksum(tensors, &meta);
    meta.insert(CHECKSUM.to_string(), sum);
    meta
}

/// A checkpoint's metadata, verified.
pub(super) struct Meta<'a> {
    pub(super) path: &'a Path,
    map: HashMap<String, String>,
}

impl<'a> Meta<'a> {
    /// The metadata of the checkpoint `st` read from `path`, after checking its format and
    /// its checksum.
    pub(super) fn read(path: &'a Path, bytes: &[u8], st: &SafeTensors<'_>) -> Result<Meta<'a>> {
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::data(path, format!("has an unreadable header ({e})")))?;
        let map = header.metadata().clone().unwrap_or_default();
        match map.get("format").map(String::as_str) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(Error::data(
                    path,
                    format!(
                        "is a {other:?} checkpoint, which this sampa does not read (it reads \
                         {FORMAT:?}); start the run again, or resume it with the sampa that wrote it"
                    ),
                ));
            }
            None => {
                return Err(Error::data(
                    path,
                    format!(
                        "is not a sampa checkpoint (no \"format\": {FORMAT:?} in its metadata)"
                    ),
                ));
            }
        }
        let meta = Meta { path, map };
        let stored = meta.field(CHECKSUM)?;
        let tensors = st.tensors();
        let found = checksum(
            tensors.iter().map(|(n, t)| {
                (
                    n.as_str(),
                    format!("{:?} {:?}", t.dtype(), t.shape()),
                    t.data(),
                )
            }),
            &meta.map,
        );
        if stored != found {
            return Err(Error::data(
                path,
                format!(
                    "is corrupt: its checksum says {stored} but its contents give {found}, so it \
                     changed after it was written; restore it from a copy, or start the run again"
                ),
            ));
        }
        Ok(meta)
    }

    /// The value of `key`.
    pub(super) fn field(&self, key: &str) -> Result<&str> {
        self.map
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::data(self.path, format!("has no {key:?} in its metadata")))
    }

    /// The error for a malformed `key`.
    pub(super) fn bad(&self, key: &str) -> Error {
        Error::data(
            self.path,
            format!("has a malformed {key:?} in its metadata"),
        )
    }

    /// The value of `key`, parsed.
    pub(super) fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<T> {
        self.field(key)?.parse().map_err(|_| self.bad(key))
    }

    /// AE-SAM's running statistics, if the checkpoint has them: `mean,var,steps,sam_steps`.
    pub(super) fn aesam(&self) -> Result<Option<crate::optim::aesam::AeSamState>> {
        const KEY: &str = "aesam";
        let Some(text) = self.map.get(KEY) else {
            return Ok(None);
        };
        let parts: Vec<&str> = text.split(',').collect();
        let [mean, var, steps, sam_steps] = parts[..] else {
            return Err(self.bad(KEY));
        };
        let float = |s: &str| s.parse::<f64>().map_err(|_| self.bad(KEY));
        let count = |s: &str| s.parse::<usize>().map_err(|_| self.bad(KEY));
        Ok(Some(crate::optim::aesam::AeSamState {
            mean: float(mean)?,
            var: float(var)?,
            steps: count(steps)?,
            sam_steps: count(sam_steps)?,
        }))
    }

    /// The value of `key` as two comma-separated numbers.
    pub(super) fn pair(&self, key: &str) -> Result<(u64, u64)> {
        let (a, b) = self
            .field(key)?
            .split_once(',')
            .ok_or_else(|| self.bad(key))?;
        Ok((
            a.parse().map_err(|_| self.bad(key))?,
            b.parse().map_err(|_| self.bad(key))?,
        ))
    }
}
