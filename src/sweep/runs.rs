//! What a sweep's run directory says: its epoch records, and how far the run has got.

use crate::error::{Error, Result};
use std::path::Path;

/// How far a run has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Nothing there yet.
    New,
    /// Started, without a checkpoint to resume from: it starts again.
    Restart,
    /// Interrupted after a checkpoint: it resumes from it.
    Resume,
    /// All its epochs done.
    Finished,
}

/// The epoch records of the run in `dir`'s `metrics.jsonl`, in order.
pub fn epoch_records(dir: &Path) -> Result<Vec<serde_json::Value>> {
    let path = dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::data(&path, format!("cannot read: {e}")))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let r: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::data(&path, format!("line {} is not JSON ({e})", i + 1)))?;
        if r["kind"] == "epoch" {
            out.push(r);
        }
    }
    Ok(out)
}

/// How far the run in `dir` has got: finished when its log has an epoch record for its last
/// epoch; else resumable when it has a checkpoint.
pub fn status(dir: &Path) -> Status {
    if !dir.join("config.json").is_file() {
        return match dir.exists() {
            true => Status::Restart,
            false => Status::New,
        };
    }
    let last_epoch = || {
        let records = epoch_records(dir).ok()?;
        records.last()?["epoch"].as_u64()
    };
    let finished = crate::run::RunDir::read_config(dir)
        .ok()
        .is_some_and(|c| c.steps.is_none() && last_epoch().is_some_and(|e| e >= c.epochs as u64));
    match (finished, dir.join(crate::run::CHECKPOINT).is_file()) {
        (true, _) => Status::Finished,
        (false, true) => Status::Resume,
        (false, false) => Status::Restart,
    }
}
