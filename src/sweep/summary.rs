//! What a sweep's runs add up to, per setting: the test accuracy's mean and sample standard
//! deviation over its seeds at the best validation epoch (with `--val-split`) and at the last,
//! the top-5 accuracy past 5 classes, GLUE's metrics at the last epoch on a GLUE task (a
//! regression such as STS-B has them and no accuracy), the gradient evaluations in total and
//! in sequence, and the seconds per epoch; read from each run's own `metrics.jsonl`, written
//! as `summary.json` and `summary.md`, and drawn as test-accuracy curves with a band per
//! setting.

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

    /// `mean ± std` to 4 decimals (a correlation or F1).
    fn plain(s: Option<Stat>) -> String {
        match s {
            Some(Stat { mean, std: Some(d) }) => format!("{mean:.4} ± {d:.4}"),
            Some(Stat { mean, std: None }) => format!("{mean:.4}"),
            None => "—".into(),
        }
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
    /// GLUE's metrics beyond accuracy at the last epoch (`mcc`, `f1`, `pearson`,
    /// `spearman`, as `metrics.jsonl` names them `test_<name>`), by name.
    #[serde(default)]
    pub test_glue_last: Vec<(String, Stat)>,
}

/// GLUE's metrics beyond accuracy, as `text::glue::Task::metrics` names them.
const GLUE_METRICS: [&str; 4] = ["mcc", "f1", "pearson", "spearman"];

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
    last: Option<f64>,
    glue: Vec<(&'static str, f64)>,
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
    // A regression's records have no accuracy.
    let acc = |r: &serde_json::Value| r["test_accuracy"].as_f64();
    // The first epoch of the best validation accuracy, as `run::validation` picks it.
    let mut best: Option<(f64, f64)> = None;
    for r in &records {
        if let Some(v) = r["val_accuracy"].as_f64()
            && best.is_none_or(|(b, _)| v > b)
        {
            best = Some((v, acc(r).unwrap_or(f64::NAN)));
        }
    }
    let count = |k: &str| last[k].as_u64().unwrap_or(0);
    Ok(RunFigures {
        best_val: best.map(|(_, t)| t),
        last: acc(last),
        glue: GLUE_METRICS
            .iter()
            .filter_map(|&m| Some((m, last[format!("test_{m}")].as_f64()?)))
            .collect(),
        top5: last["test_top5_accuracy"].as_f64(),
        evals: (count("grad_evals"), count("sequential_grad_evals")),
        seconds: records
            .iter()
            .filter_map(|r| r["seconds"].as_f64())
            .collect(),
        by_epoch: records.iter().filter_map(acc).collect(),
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
                test_accuracy_last: pick(|r| r.last),
                test_top5_last: pick(|r| r.top5),
                grad_evals: done.iter().map(|(_, r)| r.evals.0).max().unwrap_or(0),
                sequential_grad_evals: done.iter().map(|(_, r)| r.evals.1).max().unwrap_or(0),
                seconds_per_epoch: Stat::of(&seconds),
                test_accuracy_by_epoch: by_epoch,
                test_glue_last: GLUE_METRICS
                    .iter()
                    .filter_map(|&m| {
                        let v: Vec<f64> = done
                            .iter()
                            .filter_map(|(_, r)| r.glue.iter().find(|g| g.0 == m).map(|g| g.1))
                            .collect();
                        let stat = (v.len() == done.len()).then(|| Stat::of(&v)).flatten()?;
                        Some((m.to_string(), stat))
                    })
                    .collect(),
            });
        }
        Ok(Summary {
            settings,
            unfinished,
        })
    }

    /// The summary as a Markdown table, with a line on the runs still to finish.
    pub fn markdown(&self) -> String {
        // A column for each GLUE metric some setting has.
        let glue: Vec<&str> = GLUE_METRICS
            .into_iter()
            .filter(|g| {
                self.settings
                    .iter()
                    .any(|m| m.test_glue_last.iter().any(|(n, _)| n == g))
            })
            .collect();
        let glue_head: String = glue.iter().map(|g| format!(" {g}, last |")).collect();
        let mut s = format!(
            "| setting | runs | test acc. at best val. (%) | test acc., last epoch (%) | top-5, \
             last (%) |{glue_head} grad evals (in sequence) | s / epoch |\n|---|---|---|---|---|{}---|---|\n",
            "---|".repeat(glue.len())
        );
        for m in &self.settings {
            let secs = m
                .seconds_per_epoch
                .map_or("—".into(), |t| format!("{:.1}", t.mean));
            let glue_cells: String = glue
                .iter()
                .map(|g| {
                    let stat = m.test_glue_last.iter().find(|(n, _)| n == g);
                    format!(" {} |", Stat::plain(stat.map(|(_, s)| *s)))
                })
                .collect();
            s += &format!(
                "| {} | {} | {} | {} | {} |{glue_cells} {} ({}) | {secs} |\n",
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// A regression's run (no accuracies, Pearson and Spearman per epoch) gives its last
    /// epoch's correlations and no accuracy; the table gives them a column each.
    #[test]
    fn a_regression_sweep_reports_its_correlations() {
        let dir = std::env::temp_dir().join(format!("sampa-summary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let records = [
            r#"{"kind":"epoch","epoch":1,"test_loss":3.0,"test_pearson":0.5,"test_spearman":0.4,"seconds":2.0}"#,
            r#"{"kind":"step","step":3}"#,
            r#"{"kind":"epoch","epoch":2,"test_loss":1.0,"test_pearson":0.9,"test_spearman":0.7,"seconds":4.0}"#,
        ];
        std::fs::write(dir.join("metrics.jsonl"), records.join("\n")).unwrap();
        let f = figures(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(f.last, None);
        assert!(f.by_epoch.is_empty());
        assert_eq!(f.glue, vec![("pearson", 0.9), ("spearman", 0.7)]);
        assert_eq!(f.seconds, vec![2.0, 4.0]);
        let setting = |name: &str, glue: Vec<(String, Stat)>| SettingSummary {
            name: name.into(),
            seeds: vec![0, 1],
            runs: 2,
            test_accuracy_best_val: None,
            test_accuracy_last: None,
            test_top5_last: None,
            grad_evals: 10,
            sequential_grad_evals: 5,
            seconds_per_epoch: Stat::of(&[3.0]),
            test_accuracy_by_epoch: Vec::new(),
            test_glue_last: glue,
        };
        let pearson = Stat::of(&[0.9, 0.7]).unwrap();
        let summary = Summary {
            settings: vec![
                setting("sam", vec![("pearson".into(), pearson)]),
                setting("sgd", Vec::new()),
            ],
            unfinished: Vec::new(),
        };
        let md = summary.markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert!(
            lines[0].contains("| top-5, last (%) | pearson, last | grad evals"),
            "{md}"
        );
        assert_eq!(lines[1], "|---|---|---|---|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| sam | 2 | — | — | — | 0.8000 ± 0.1414 | 10 (5) | 3.0 |"
        );
        assert_eq!(lines[3], "| sgd | 2 | — | — | — | — | 10 (5) | 3.0 |");
    }
}
