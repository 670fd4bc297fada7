//! A run directory and every file a run writes into it, each written atomically (through a
//! temporary file and a rename), so an interrupted run leaves the last good version of each.
//!
//! - `config.json`: every setting ([`super::TrainConfig`]);
//! - `metrics.jsonl`: one record per epoch, plus one per step with `--log-every`;
//! - `curves.png`: loss and accuracy per epoch;
//! - `model.safetensors`: the parameters under their PyTorch names;
//! - `checkpoint.safetensors`: everything a resumed run needs to continue exactly;
//! - `.sampa.lock`: the lock its owner holds (`super::lock`).

use super::config::TrainConfig;
use super::lock::{self, LOCK_FILE, RunLock};
use super::plot::{self, EpochPoint};
use crate::error::{Error, Result};
use crate::nn::Model;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name of a run's checkpoint file.
pub const CHECKPOINT: &str = "checkpoint.safetensors";

/// A run's directory, with its lock where this process owns it.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
    lock: Option<Arc<RunLock>>,
}

impl RunDir {
    /// The existing run directory at `path`, without taking it over (the paths of its files,
    /// for a process that only reads them).
    pub fn existing(path: &Path) -> RunDir {
        RunDir {
            path: path.to_path_buf(),
            lock: None,
        }
    }

    /// The existing run directory at `path`, owned by this process from now on: a resumed
    /// run's. Fails naming the owner while another process trains in it.
    pub fn resume(path: &Path) -> Result<RunDir> {
        let lock = RunLock::acquire(path, &format!("--resume {}", path.display()))?;
        Ok(RunDir {
            path: path.to_path_buf(),
            lock: Some(Arc::new(lock)),
        })
    }

    /// Whether this process owns the directory.
    pub fn owned(&self) -> bool {
        self.lock.is_some()
    }

    /// Check that a new run may write into `path`: it is missing or empty, or it holds an
    /// earlier run and `overwrite` is set. Nothing is written; [`RunDir::create`] does that
    /// once the run has started.
    pub fn check_free(path: &Path, overwrite: bool) -> Result<()> {
        if let Some(pid) = lock::owner(path) {
            return Err(lock::owned(path, "--out", Some(pid)));
        }
        // The lock file a run that died before writing anything left behind is no content.
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries
                .filter(|e| e.as_ref().map_or(true, |e| e.file_name() != LOCK_FILE))
                .count(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if path.exists() && !path.is_dir() => {
                return Err(Error::data(
                    path,
                    format!("--out: is not a directory ({e})"),
                ));
            }
            Err(e) => return Err(Error::data(path, format!("--out: cannot read it ({e})"))),
        };
        let is_run = path.join("config.json").is_file();
        match (entries, is_run, overwrite) {
            (0, _, _) | (_, true, true) => Ok(()),
            (_, true, false) => Err(Error::data(
                path,
                format!(
                    "--out: holds a run already{}; continue it with --resume DIR, replace it \
                     with --overwrite, or choose another --out",
                    lock::last_owner(path)
                        .map_or(String::new(), |p| format!(" (by sampa process {p}, ended)"))
                ),
            )),
            (_, false, _) => Err(Error::data(
                path,
                "--out: is a directory with files but no run (no config.json); a run gets a \
                 directory of its own: choose another --out",
            )),
        }
    }

    /// Create the new run's directory at `path` and own it, after [`RunDir::check_free`]
    /// allowed it, deleting the earlier run there when `overwrite` is set. Of two processes
    /// that both found `path` free, the one that takes the lock first owns it; the other fails
    /// naming it.
    pub fn create(path: &Path, overwrite: bool) -> Result<RunDir> {
        Self::check_free(path, overwrite)?;
        let failed = |e: std::io::Error| {
            Error::data(path, format!("cannot create the output directory: {e}"))
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        // An empty directory that was there already (made by the user, or claimed by the CLI)
        // is taken as it is; whoever then holds the lock owns it.
        match std::fs::create_dir(path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            other => other.map_err(failed)?,
        }
        let lock = RunLock::acquire(path, "--out")?;
        // Under the lock, what the directory holds is settled: a run that finished in it
        // meanwhile is refused as any earlier run is.
        Self::check_free(path, overwrite)?;
        if overwrite && path.join("config.json").is_file() {
            for entry in std::fs::read_dir(path).map_err(failed)? {
                let entry = entry.map_err(failed)?;
                if entry.file_name() == LOCK_FILE {
                    continue;
                }
                let p = entry.path();
                match entry.file_type().map_err(failed)?.is_dir() {
                    true => std::fs::remove_dir_all(&p),
                    false => std::fs::remove_file(&p),
                }
                .map_err(failed)?;
            }
        }
        Ok(RunDir {
            path: path.to_path_buf(),
            lock: Some(Arc::new(lock)),
        })
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of file `name` in it.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The checkpoint's path.
    pub fn checkpoint(&self) -> PathBuf {
        self.file(CHECKPOINT)
    }

    /// The model file's path.
    pub fn model(&self) -> PathBuf {
        self.file("model.safetensors")
    }

    /// Read `config.json` of the run in `dir`, naming the problem and what to give instead.
    pub fn read_config(dir: &Path) -> Result<TrainConfig> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::Invalid(format!(
                "--resume {}: cannot read {} ({e}); give the directory of an earlier `sampa \
                 train` run",
                dir.display(),
                path.display()
            ))
        })?;
        Self::parse_config(&path, &text)
    }

    /// `config.json`'s text, named `path` in errors (the entry point for fuzzing).
    pub fn parse_config(path: &Path, text: &str) -> Result<TrainConfig> {
        serde_json::from_str(text).map_err(|e| {
            Error::data(
                path,
                format!(
                    "is not a sampa run configuration ({e}); restore it from a copy, or start \
                 the run again with --overwrite"
                ),
            )
        })
    }

    /// Write `config.json`.
    pub fn write_config(&self, config: &TrainConfig) -> Result<()> {
        let text = serde_json::to_string_pretty(config).expect("a config serialises");
        self.write("config.json", text.as_bytes())
    }

    /// Write the model file, the metrics and the curves after an epoch.
    pub fn write_outputs(
        &self,
        (model, info): (&Model, &crate::nn::model_info::ModelInfo),
        (params, state): (&[f32], &[f32]),
        (records, points): (&[serde_json::Value], &[EpochPoint]),
    ) -> Result<()> {
        super::checkpoint::save(model, (params, state), info, &self.model())?;
        let lines: String = records.iter().map(|r| format!("{r}\n")).collect();
        self.write("metrics.jsonl", lines.as_bytes())?;
        let diagnosis = plot::Diagnosis::from_records(records);
        plot::curves((points, &diagnosis), &model.name, &self.file("curves.png"))
    }

    /// The records and epoch points of `metrics.jsonl` that a checkpoint at `steps`, in
    /// 0-based epoch `epoch`, has behind it (later lines came after the checkpoint and will be
    /// redone).
    pub fn read_metrics(
        &self,
        steps: usize,
        epoch: usize,
    ) -> Result<(Vec<serde_json::Value>, Vec<EpochPoint>)> {
        let path = self.file("metrics.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::data(&path, format!("cannot read: {e}"))),
        };
        let (mut records, mut points) = (Vec::new(), Vec::new());
        let lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        for (i, line) in lines {
            let r: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| Error::data(&path, format!("line {} is not JSON ({e})", i + 1)))?;
            let num = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
            let keep = match r["kind"].as_str() {
                Some("step") => num("step") <= steps as f64,
                Some("epoch") => num("epoch") <= epoch as f64,
                _ => false,
            };
            if keep && r["kind"] == "epoch" {
                points.push(EpochPoint {
                    epoch: num("epoch") as usize,
                    train_loss: num("train_loss"),
                    train_acc: num("train_accuracy"),
                    test_loss: num("test_loss"),
                    test_acc: num("test_accuracy"),
                    test_top5: r["test_top5_accuracy"].as_f64(),
                });
            }
            if keep {
                records.push(r);
            }
        }
        Ok((records, points))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.file(name);
        crate::fsutil::write_atomic(&path, bytes)
            .map_err(|e| super::checkpoint::write_error(&path, &e))
    }
}
