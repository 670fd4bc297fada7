//! The whole suite natively: every adapter (or those `--adapter` names), each with its
//! single-adapter cases from [`super::plan`], SAMPa's dual schedule for every ordered pair of
//! adapters, and the time-to-accuracy runs; then the derived shares and ratios.

use super::accuracy;
use super::cases::Value;
use super::plan::{self, Prepared, Settings};
use super::rounds::{self, Method};
use super::schema::{AdapterRecord, Report};
use crate::error::{Error, Result};
use crate::gpu::{Gpu, adapters};
use crate::kernels::Kernels;
use crate::optim::OptimizerKind;
use crate::train::Placement;
use crate::train::schedule::thread::ThreadTransport;

/// Open the adapters `specs` names (each as `--adapter` takes it), or every adapter.
pub fn open(specs: &[String]) -> Result<Vec<Gpu>> {
    pollster::block_on(async {
        let instance = adapters::instance();
        let all = adapters::enumerate(&instance).await;
        if all.is_empty() {
            return Err(Error::NoAdapter);
        }
        let mut picked: Vec<(usize, wgpu::Adapter)> = Vec::new();
        if specs.is_empty() {
            picked.extend(all.into_iter().enumerate());
        } else {
            for spec in specs {
                let (i, a) = adapters::select(all.clone(), Some(spec), "--adapter")?;
                if picked.iter().all(|(j, _)| *j != i) {
                    picked.push((i, a));
                }
            }
        }
        let mut gpus = Vec::new();
        for (i, a) in picked {
            gpus.push(Gpu::from_adapter(i, a).await?);
        }
        Ok(gpus)
    })
}

/// Run `settings` on `gpus` into `report`; `progress` hears each finished unit of work and
/// how many there are in all, and `finished` sees the report after each group of cases (see
/// `groups`: one part, model and matmul variant), so that a run stopped half-way keeps what it measured. Once `settings.budget_s` has passed, the groups not yet started are recorded as
/// not run, with the reason.
pub fn run(
    gpus: &[Gpu],
    settings: &Settings,
    report: &mut Report,
    mut progress: impl FnMut(&str, usize),
    mut finished: impl FnMut(&Report) -> Result<()>,
) -> Result<()> {
    let start = crate::clock::now();
    let spent = || {
        settings
            .budget_s
            .is_some_and(|b| crate::clock::now() - start > b)
    };
    let method = Method::suite(settings.quick);
    let kernels: Vec<Kernels> = gpus
        .iter()
        .map(crate::tuning::choose)
        .collect::<Result<_>>()?;
    report.adapters = gpus.iter().map(AdapterRecord::of).collect();
    let mut prepared = Vec::new();
    for (i, gpu) in gpus.iter().enumerate() {
        let (cases, failed) = plan::cases(gpu, gpu.adapter.index, kernels[i], settings);
        let mut p = Prepared { cases, failed };
        if settings.runs("step") {
            dual_cases(gpus, &kernels, i, settings, &mut p);
        }
        prepared.push(p);
    }
    let tta = settings.runs("time_to_accuracy") as usize * accuracy::OPTIMIZERS.len();
    let total: usize = prepared
        .iter()
        .map(|p| p.cases.len() * (1 + method.rounds) + tta)
        .sum();
    for ((gpu, p), kernels) in gpus.iter().zip(prepared).zip(&kernels) {
        report.results.extend(p.failed);
        for group in groups(p.cases) {
            if spent() {
                let left = group.iter().map(|c| over_budget(c.template(), settings));
                report.results.extend(left);
                continue;
            }
            let tick = |what: &str| progress(what, total);
            let results =
                gpu.block_on(async { Ok(rounds::measure(gpu, group, method, tick).await) })?;
            report.results.extend(results);
            rounds::derive(&mut report.results);
            finished(report)?;
        }
        if settings.runs("time_to_accuracy") {
            let epochs = if settings.quick { 4 } else { 10 };
            if spent() {
                let left = accuracy::templates(gpu.adapter.index);
                report
                    .results
                    .extend(left.iter().map(|t| over_budget(t, settings)));
            } else {
                report
                    .results
                    .extend(accuracy::run(gpu, *kernels, epochs, |w| progress(w, total)));
            }
        }
        rounds::derive(&mut report.results);
        finished(report)?;
    }
    Ok(())
}

/// Cases in groups measured together (interleaved rounds compare the cases of one group
/// fairly): consecutive cases of the same part, model and matmul variant, so that the step
/// cases of one model (whose ratios the report derives) share their rounds.
fn groups(cases: Vec<super::cases::Case>) -> Vec<Vec<super::cases::Case>> {
    let key = |c: &super::cases::Case| {
        let t = c.template();
        let param = |k: &str| t.params.get(k).cloned();
        (t.suite.clone(), param("model"), param("variant"))
    };
    let mut out: Vec<Vec<super::cases::Case>> = Vec::new();
    for c in cases {
        match out.last_mut() {
            Some(g) if key(&g[0]) == key(&c) => g.push(c),
            _ => out.push(vec![c]),
        }
    }
    out
}

/// The result of a case left out because the time budget was spent.
fn over_budget(t: &super::schema::BenchResult, s: &Settings) -> super::schema::BenchResult {
    let budget = s.budget_s.unwrap_or_default();
    super::cases::failed(
        t.clone(),
        format!("not run: the time budget (--budget {budget} s) was spent before it started"),
    )
}

/// SAMPa-0.2 under `dual` with adapter `main` computing g_p and every other adapter in turn
/// as the worker, for each model.
fn dual_cases(gpus: &[Gpu], kernels: &[Kernels], main: usize, s: &Settings, out: &mut Prepared) {
    let gpu = &gpus[main];
    for (w, worker) in gpus.iter().enumerate().filter(|(w, _)| *w != main) {
        for name in &s.models {
            let batch = s.batch(name);
            let schedule = format!("dual with #{}", worker.adapter.index);
            let mut t =
                plan::step_template(gpu.adapter.index, (name, batch), "SAMPa-0.2", &schedule);
            t.adapter2 = Some(worker.adapter.index);
            t.params.insert("schedule".into(), "dual".into());
            let work = plan::model(name).and_then(|m| {
                let transport = ThreadTransport::spawn(worker.clone(), m.clone(), 0.0, kernels[w])?;
                let placement = Placement::Dual(Box::new(transport));
                plan::step_work(
                    gpu,
                    (&m, kernels[main]),
                    (batch, s.burst()),
                    (OptimizerKind::Sampa, crate::optim::BaseKind::Sgd),
                    placement,
                )
            });
            out.push(t, work, Value::Time(1e3));
        }
    }
}
