//! A sweep's grid: its settings, the runs they make with the seeds, their names and `sampa
//! train` flags, and the record the sweep's directory keeps of it (`sweep.json`).

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// What a sweep varies, over one set of training flags.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Grid {
    /// Optimizers, as `--optimizer` names them.
    pub optimizers: Vec<String>,
    /// Values of ρ for the optimizers that perturb (all but `sgd`); none: the flags' own.
    pub rho: Vec<f32>,
    /// Values of SAMPa's λ; none: the flags' own.
    pub lambda: Vec<f32>,
    /// Seeds: each setting runs once with each.
    pub seeds: Vec<u64>,
    /// The `sampa train` flags every run shares.
    pub train: Vec<String>,
}

/// Flags a sweep sets for each run itself, which its training flags must leave out.
const OWN_FLAGS: [&str; 7] = [
    "--seed",
    "--out",
    "--resume",
    "--optimizer",
    "--rho",
    "--lambda",
    "--overwrite",
];

/// One setting of a grid: an optimizer with the ρ and λ the grid gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// The optimizer.
    pub optimizer: String,
    /// ρ, where the grid varies it and the optimizer perturbs.
    pub rho: Option<f32>,
    /// λ, where the grid varies it and the optimizer is SAMPa.
    pub lambda: Option<f32>,
}

impl Setting {
    /// The setting's name: the optimizer, then `-rhoR` and `-lambdaL` where given
    /// (`sampa-rho0.05-lambda0.2`).
    pub fn name(&self) -> String {
        let mut name = self.optimizer.clone();
        if let Some(r) = self.rho {
            name += &format!("-rho{r}");
        }
        if let Some(l) = self.lambda {
            name += &format!("-lambda{l}");
        }
        name
    }

    /// Its `sampa train` flags.
    fn flags(&self) -> Vec<String> {
        let mut v = vec!["--optimizer".to_string(), self.optimizer.clone()];
        if let Some(r) = self.rho {
            v.extend(["--rho".to_string(), r.to_string()]);
        }
        if let Some(l) = self.lambda {
            v.extend(["--lambda".to_string(), l.to_string()]);
        }
        v
    }
}

/// One run of a sweep: its setting, seed and directory.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    /// Its setting.
    pub setting: Setting,
    /// Its seed.
    pub seed: u64,
    /// Its name, `{setting}-seed{seed}`: the directory under the sweep's.
    pub name: String,
}

impl Grid {
    /// Check the grid: something to run, no repeated value, and training flags that leave the
    /// sweep's own flags to it.
    pub fn check(&self) -> Result<()> {
        if self.optimizers.is_empty() || self.seeds.is_empty() {
            return Err(Error::Invalid(
                "sampa sweep needs at least one optimizer (--optimizers) and one seed (--seeds)"
                    .into(),
            ));
        }
        let repeated = |name: &str, n: usize, mut v: Vec<String>| {
            v.sort();
            v.dedup();
            match v.len() == n {
                true => Ok(()),
                false => Err(Error::Invalid(format!("--{name} lists a value twice"))),
            }
        };
        let text = |v: &[f32]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        repeated("optimizers", self.optimizers.len(), self.optimizers.clone())?;
        repeated("rho", self.rho.len(), text(&self.rho))?;
        repeated("lambda", self.lambda.len(), text(&self.lambda))?;
        let seeds = self.seeds.iter().map(|s| s.to_string()).collect();
        repeated("seeds", self.seeds.len(), seeds)?;
        for flag in &self.train {
            let name = flag.split('=').next().unwrap_or(flag);
            if OWN_FLAGS.contains(&name) {
                return Err(Error::Invalid(format!(
                    "sampa sweep sets {name} for each run itself: leave it out of the training \
                     flags after `--` (use --seeds, --optimizers, --rho, --lambda or the \
                     sweep's --out)"
                )));
            }
        }
        Ok(())
    }

    /// The grid's settings, in order: each optimizer with each ρ (if it perturbs) and each λ
    /// (if it is SAMPa).
    pub fn settings(&self) -> Vec<Setting> {
        let some = |v: &[f32]| match v.is_empty() {
            true => vec![None],
            false => v.iter().map(|&x| Some(x)).collect(),
        };
        let mut out = Vec::new();
        for opt in &self.optimizers {
            let rhos = if opt == "sgd" {
                vec![None]
            } else {
                some(&self.rho)
            };
            let lambdas = if opt == "sampa" {
                some(&self.lambda)
            } else {
                vec![None]
            };
            for &rho in &rhos {
                for &lambda in &lambdas {
                    out.push(Setting {
                        optimizer: opt.clone(),
                        rho,
                        lambda,
                    });
                }
            }
        }
        out
    }

    /// Every run: each setting with each seed.
    pub fn runs(&self) -> Vec<RunSpec> {
        let mut out = Vec::new();
        for setting in self.settings() {
            for &seed in &self.seeds {
                out.push(RunSpec {
                    name: format!("{}-seed{seed}", setting.name()),
                    setting: setting.clone(),
                    seed,
                });
            }
        }
        out
    }

    /// Where the sweep in `dir` records its grid.
    pub fn record_path(dir: &Path) -> PathBuf {
        dir.join("sweep.json")
    }

    /// Record the grid in `dir`, or check it against the one recorded there: a sweep's
    /// directory holds one grid's runs.
    pub fn record(&self, dir: &Path) -> Result<()> {
        let path = Grid::record_path(dir);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let recorded: Grid = serde_json::from_str(&text).map_err(|e| {
                Error::data(&path, format!("not a sweep record ({e}); use a new --out"))
            })?;
            if recorded != *self {
                return Err(Error::data(
                    &path,
                    format!(
                        "this directory holds a sweep of other settings ({}); run it with \
                         those, or use a new --out",
                        recorded.differences(self)
                    ),
                ));
            }
            return Ok(());
        }
        let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
        if occupied {
            return Err(Error::data(
                dir,
                "holds files but no sweep (no sweep.json); give an empty or new --out",
            ));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::data(dir, format!("cannot create the sweep directory: {e}")))?;
        let text = serde_json::to_string_pretty(self).expect("a grid serialises");
        crate::fsutil::write_atomic(&path, text.as_bytes())
            .map_err(|e| Error::data(&path, format!("cannot write: {e}")))
    }

    /// What differs between `self` (recorded) and `now`, for the error.
    fn differences(&self, now: &Grid) -> String {
        let mut v = Vec::new();
        let mut diff = |name: &str, a: String, b: String| {
            if a != b {
                v.push(format!("{name} {a} there, {b} now"));
            }
        };
        diff(
            "optimizers",
            self.optimizers.join(","),
            now.optimizers.join(","),
        );
        let list = |v: &[f32]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        diff("rho", list(&self.rho), list(&now.rho));
        diff("lambda", list(&self.lambda), list(&now.lambda));
        let seeds = |v: &[u64]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        diff("seeds", seeds(&self.seeds), seeds(&now.seeds));
        diff("training flags", self.train.join(" "), now.train.join(" "));
        v.join("; ")
    }
}

impl RunSpec {
    /// The `sampa train` arguments that start this run in `dir` (its directory), on
    /// `adapter` if given; `overwrite` replaces what an interrupted start left.
    pub fn train_args(
        &self,
        grid: &Grid,
        dir: &Path,
        adapter: Option<&str>,
        overwrite: bool,
    ) -> Vec<String> {
        let mut v = vec!["train".to_string()];
        v.extend(grid.train.iter().cloned());
        v.extend(self.setting.flags());
        v.extend(["--seed".into(), self.seed.to_string()]);
        v.extend(["--out".into(), dir.display().to_string()]);
        if overwrite {
            v.push("--overwrite".into());
        }
        if let Some(a) = adapter {
            v.extend(["--adapter".into(), a.to_string()]);
        }
        v
    }
}
