//! The method: warm every case up by time, then take samples in interleaved rounds (one
//! sample of every case per round), so that a machine that speeds up or slows down during the
//! run shifts every case alike and the ratios between cases stay fair. Kernel cases first
//! calibrate how many repetitions one submission holds, so a sample lasts a few milliseconds
//! and the submission's fixed cost does not dominate on a fast GPU.

use super::cases::Case;
use super::schema::BenchResult;
use crate::clock::now;
use crate::gpu::{Gpu, Timer};

/// How long a calibrated kernel submission should last.
const TARGET_S: f64 = 0.005;

/// Sampling settings.
#[derive(Clone, Copy, Debug)]
pub struct Method {
    /// Seconds of warm-up per case (at least one sample each).
    pub warmup_s: f64,
    /// Samples per case, one per round.
    pub rounds: usize,
}

impl Method {
    /// The sampling of the full and the quick suite.
    pub fn suite(quick: bool) -> Method {
        if quick {
            Method {
                warmup_s: 0.2,
                rounds: 5,
            }
        } else {
            Method {
                warmup_s: 1.0,
                rounds: 10,
            }
        }
    }
}

/// Measure `cases` on `gpu`; `progress` hears each finished sample (the case's name). A case
/// whose sample fails keeps its reason and leaves the later rounds.
pub async fn measure(
    gpu: &Gpu,
    cases: Vec<Case>,
    method: Method,
    mut progress: impl FnMut(&str),
) -> Vec<BenchResult> {
    let timer = Timer::new(gpu);
    let mut live: Vec<Case> = Vec::new();
    let mut done: Vec<BenchResult> = Vec::new();
    for mut case in cases {
        match warm(gpu, &mut case, method.warmup_s).await {
            Ok(()) => live.push(case),
            Err(e) => done.push(super::cases::failed(case.template().clone(), e)),
        }
        progress("warm-up");
    }
    let mut failed = vec![None; live.len()];
    for _ in 0..method.rounds {
        for (case, failure) in live.iter_mut().zip(&mut failed) {
            if failure.is_none()
                && let Err(e) = case.sample(gpu, timer.as_ref()).await
            {
                *failure = Some(e.to_string());
            }
            progress(&case.template().case);
        }
    }
    for (case, failure) in live.into_iter().zip(failed) {
        done.push(match failure {
            Some(e) => super::cases::failed(case.template().clone(), e),
            None => case.result(),
        });
    }
    done
}

/// Calibrate and warm up one case; its warm-up samples are dropped.
async fn warm(gpu: &Gpu, case: &mut Case, warmup_s: f64) -> crate::Result<()> {
    let start = now();
    let once = case.sample(gpu, None).await?;
    case.calibrate(TARGET_S, once);
    while now() - start < warmup_s {
        case.sample(gpu, None).await?;
    }
    case.forget();
    Ok(())
}

/// Fill in what follows from the results of one adapter: each matmul's share of the adapter's
/// best matmul, each bandwidth-bound case's share of the measured copy bandwidth, a step's
/// examples per second, and SAMPa's ratios to SAM and SGD on the same model and batch.
pub fn derive(results: &mut [BenchResult]) {
    let median = |r: &BenchResult| r.host.as_ref().map(|s| s.median);
    let best = |suite: &str, adapter: usize, results: &[BenchResult]| {
        results
            .iter()
            .filter(|r| r.suite == suite && r.adapter == adapter)
            .filter_map(|r| median(r).map(|m| (m, r.case.clone())))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    };
    let copy = |adapter: usize, results: &[BenchResult]| {
        results
            .iter()
            .find(|r| r.adapter == adapter && r.suite == "bandwidth" && r.case.starts_with("copy"))
            .and_then(|r| median(r).map(|m| (m, r.case.clone())))
    };
    let snapshot = results.to_vec();
    for r in results.iter_mut() {
        let Some(m) = median(r) else { continue };
        let peak = match r.suite.as_str() {
            "matmul" => best("matmul", r.adapter, &snapshot),
            "bandwidth" | "transfer" => copy(r.adapter, &snapshot),
            _ => None,
        };
        if let Some((p, case)) = peak {
            r.share_of_peak = Some(m / p);
            r.peak = Some(if r.suite == "matmul" {
                format!("best matmul ({case})")
            } else {
                format!("copy bandwidth ({case})")
            });
        }
        if r.suite == "step" {
            step_ratios(r, m, &snapshot);
        }
    }
}

fn step_ratios(r: &mut BenchResult, ms: f64, all: &[BenchResult]) {
    if let Some(b) = r.params.get("batch").and_then(|b| b.parse::<f64>().ok()) {
        r.extra.insert("examples_per_s".into(), b * 1e3 / ms);
    }
    if r.params
        .get("optimizer")
        .is_none_or(|o| !o.starts_with("SAMPa"))
    {
        return;
    }
    for (name, key) in [("SAM", "sampa_over_sam"), ("SGD", "sampa_over_sgd")] {
        let base = all.iter().find(|o| {
            o.suite == "step"
                && o.adapter == r.adapter
                && o.params.get("optimizer").map(String::as_str) == Some(name)
                && o.params.get("model") == r.params.get("model")
                && o.params.get("batch") == r.params.get("batch")
        });
        if let Some(b) = base.and_then(|b| b.host.as_ref()) {
            r.extra.insert(key.into(), ms / b.median);
        }
    }
}
