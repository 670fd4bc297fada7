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
/// how many there are in all.
pub fn run(
    gpus: &[Gpu],
    settings: &Settings,
    report: &mut Report,
    mut progress: impl FnMut(&str, usize),
) -> Result<()> {
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
        let tick = |what: &str| progress(what, total);
        let mut results =
            gpu.block_on(async { Ok(rounds::measure(gpu, p.cases, method, tick).await) })?;
        results.extend(p.failed);
        if settings.runs("time_to_accuracy") {
            let epochs = if settings.quick { 4 } else { 10 };
            results.extend(accuracy::run(gpu, *kernels, epochs, |w| progress(w, total)));
        }
        report.results.extend(results);
    }
    rounds::derive(&mut report.results);
    Ok(())
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
