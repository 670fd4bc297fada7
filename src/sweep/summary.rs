//! What a sweep's runs add up to, per setting: the test accuracy's mean and sample standard
//! deviation over its seeds at the best validation epoch (with `--val-split`) and at the last,
//! the top-5 accuracy past 5 classes, the gradient evaluations in total and in sequence, and
//! the seconds per epoch; read from each run's own `metrics.jsonl`, written as `summary.json`
//! and `summary.md`, and drawn as test-accuracy curves with a band per setting.

use super::grid::{Grid, RunSpec};
use super::runs::{Status, epoch_records, status};
use crate::error::{Error, Result};
use std::path::Path;

/// A mean and sample standard deviation (n − 1 in the denominator; none for one value).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stat {
    /// The mean.
    pub mean: f64,
    /// The sample standard deviation, where there are two values or more.
    pub std: Option<f64>,
}

impl Stat {
    /// The statistics of `values`, or none of none.
    pub fn of(values: &[f64]) -> Option<Stat> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        Some(Stat {
            mean,
            std: (n > 1).then(|| var.sqrt()),
        })
    }

    /// `mean ± std` as percentages.
    fn percent(s: Option<Stat>) -> String {
        match s {
            Some(Stat { mean, std: Some(d) }) => format!("{:.2} ± {:.2}", 100.0 * mean, 100.0 * d),
            Some(Stat { mean, std: None }) => format!("{:.2}", 100.0 * mean),
            None => "—".into(),
        }
    }
}

/// One setting's figures over its finished runs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SettingSummary {
    /// The setting's name.
    pub name: String,
    /// Its finished runs' seeds.
    pub seeds: Vec<u64>,
    /// Finished runs.
    pub runs: usize,
    /// Test accuracy at each run's best validation epoch (the first of equals), with
    /// `--val-split`.
    pub test_accuracy_best_val: Option<Stat>,
    /// Test accuracy at the last epoch.
    pub test_accuracy_last: Option<Stat>,
    /// Test top-5 accuracy at the last epoch, past 5 classes.
    pub test_top5_last: Option<Stat>,
    /// Gradient evaluations per run, in total and in sequence (the larger where runs differ).
    pub grad_evals: u64,
    /// Gradient evaluations per run that had to run one after another.
    pub sequential_grad_evals: u64,
    /// Wall seconds per epoch over every epoch of every run.
    pub seconds_per_epoch: Option<Stat>,
    /// Per epoch (1-based, in order), the test accuracy over the runs.
    pub test_accuracy_by_epoch: Vec<Stat>,
}

/// A sweep's summary: each setting's figures, and the runs not finished yet.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Per setting, in the grid's order.
    pub settings: Vec<SettingSummary>,
    /// Runs without all their epochs yet.
    pub unfinished: Vec<String>,
}

/// One finished run's figures.
struct RunFigures {
    best_val: Option<f64>,
    last: f64,
    top5: Option<f64>,
    evals: (u64, u64),
    seconds: Vec<f64>,
    by_epoch: Vec<f64>,
}

fn figures(dir: &Path) -> Result<RunFigures> {
    let records = epoch_records(dir)?;
    let last = records
        .last()
        .ok_or_else(|| Error::data(dir, "a finished run without epoch records"))?;
    let acc = |r: &serde_json::Value| r["test_accuracy"].as_f64().unwrap_or(f64::NAN);
    // The first epoch of the best validation accuracy, as `run::validation` picks it.
    let mut best: Option<(f64, f64)> = None;
    for r in &records {
        if let Some(v) = r["val_accuracy"].as_f64()
            && best.is_none_or(|(b, _)| v > b)
        {
            best = Some((v, acc(r)));
        }
    }
    let count = |k: &str| last[k].as_u64().unwrap_or(0);
    Ok(RunFigures {
        best_val: best.map(|(_, t)| t),
        last: acc(last),
        top5: last["test_top5_accuracy"].as_f64(),
        evals: (count("grad_evals"), count("sequential_grad_evals")),
        seconds: records
            .iter()
            .filter_map(|r| r["seconds"].as_f64())
            .collect(),
        by_epoch: records.iter().map(acc).collect(),
    })
}

impl Summary {
    /// The summary of the sweep of `grid` in `dir` from its finished runs' logs.
    pub fn read(grid: &Grid, dir: &Path) -> Result<Summary> {
        let runs = grid.runs();
        let mut settings = Vec::new();
        let mut unfinished = Vec::new();
        for setting in grid.settings() {
            let name = setting.name();
            let mine: Vec<&RunSpec> = runs.iter().filter(|r| r.setting == setting).collect();
            let mut done = Vec::new();
            for r in mine {
                let run_dir = dir.join(&r.name);
                match status(&run_dir) {
                    Status::Finished => done.push((r.seed, figures(&run_dir)?)),
                    _ => unfinished.push(r.name.clone()),
                }
            }
            let pick = |f: fn(&RunFigures) -> Option<f64>| -> Option<Stat> {
                let v: Vec<f64> = done.iter().filter_map(|(_, r)| f(r)).collect();
                (v.len() == done.len()).then(|| Stat::of(&v)).flatten()
            };
            let epochs = done
                .iter()
                .map(|(_, r)| r.by_epoch.len())
                .min()
                .unwrap_or(0);
            let by_epoch = (0..epochs)
                .filter_map(|e| {
                    Stat::of(&done.iter().map(|(_, r)| r.by_epoch[e]).collect::<Vec<_>>())
                })
                .collect();
            let seconds: Vec<f64> = done.iter().flat_map(|(_, r)| r.seconds.clone()).collect();
            settings.push(SettingSummary {
                name,
                seeds: done.iter().map(|(s, _)| *s).collect(),
                runs: done.len(),
                test_accuracy_best_val: pick(|r| r.best_val),
                test_accuracy_last: pick(|r| Some(r.last)),
                test_top5_last: pick(|r| r.top5),
                grad_evals: done.iter().map(|(_, r)| r.evals.0).max().unwrap_or(0),
                sequential_grad_evals: done.iter().map(|(_, r)| r.evals.1).max().unwrap_or(0),
                seconds_per_epoch: Stat::of(&seconds),
                test_accuracy_by_epoch: by_epoch,
            });
        }
        Ok(Summary {
            settings,
            unfinished,
        })
    }

    /// The summary as a Markdown table, with a line on the runs still to finish.
    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "| setting | runs | test acc. at best val. (%) | test acc., last epoch (%) | top-5, \
             last (%) | grad evals (in sequence) | s / epoch |\n|---|---|---|---|---|---|---|\n",
        );
        for m in &self.settings {
            let secs = m
                .seconds_per_epoch
                .map_or("—".into(), |t| format!("{:.1}", t.mean));
            s += &format!(
                "| {} | {} | {} | {} | {} | {} ({}) | {secs} |\n",
                m.name,
                m.runs,
                Stat::percent(m.test_accuracy_best_val),
                Stat::percent(m.test_accuracy_last),
                Stat::percent(m.test_top5_last),
                m.grad_evals,
                m.sequential_grad_evals,
            );
        }
        s += "\nMean ± sample standard deviation over seeds (n − 1).";
        if !self.unfinished.is_empty() {
            s += &format!(
                " Not finished yet: {}; run the sweep again to finish them.",
                self.unfinished.join(", ")
            );
        }
        s + "\n"
    }

    /// Write `summary.json` and `summary.md` into `dir` (`super::plot` draws `summary.png`).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            crate::fsutil::write_atomic(&path, bytes)
                .map_err(|e| Error::data(&path, format!("cannot write: {e}")))
        };
        let json = serde_json::to_string_pretty(self).expect("a summary serialises");
        write("summary.json", json.as_bytes())?;
        write("summary.md", self.markdown().as_bytes())
    }
}
