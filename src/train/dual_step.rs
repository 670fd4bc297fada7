//! The `dual` schedule's step (the schedule and its state are `schedule/dual.rs`'s): three
//! submissions around the worker's pass, as that file describes.

use super::recorder::Prepared;
use super::schedule::transport::Job;
use super::trainer::{Placed, Trainer, plan, read};
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::evaluator::Evaluator;
use crate::optim::program::{On, Program};

/// One step with the pair's second pass on the worker; `look` says whether the look-ahead must
/// run (see `Trainer::set_hyper`).
pub(crate) async fn step(
    t: &mut Trainer,
    gpu: &Gpu,
    batch: &Batch,
    look: bool,
) -> Result<[f32; 2]> {
    let [main, remote] = t.pair.expect("dual needs a pair");
    let passes = t.rec.program.passes();
    let (at, into) = (passes[remote].at, passes[remote].into);
    let prev = t.previous.clone().unwrap_or_else(|| batch.clone());
    let main_batch = if passes[main].on == On::Previous {
        &prev
    } else {
        batch
    };
    let remote_batch = if passes[remote].on == On::Previous {
        &prev
    } else {
        batch
    };
    let size = t.rec.evaluators[main].load(gpu, main_batch)?.batch;
    let Placed::Dual(dual) = &mut t.placed else {
        unreachable!("checked by the caller")
    };
    let start = t
        .rec
        .ops
        .iter()
        .position(|op| matches!(op, Prepared::Grad(i) if *i == main));
    let (before, after) = t.rec.ops.split_at(start.expect("the pair's pass"));
    let writes_point = |k: usize| Program::writes(&t.rec.program.ops[k], at);
    // (1) The point.
    let point_at = match (look, dual.staged.take()) {
        (false, Some(index)) => index,
        _ => {
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            for (k, op) in before.iter().enumerate() {
                if writes_point(k) {
                    record(op, &mut encoder, look);
                }
            }
            dual.point.record(&mut encoder, t.rec.vector(at));
            gpu.checked("the dual worker's point", || {
                gpu.queue.submit([encoder.finish()])
            })?
        }
    };
    // (2) The rest before the pair, and the main pass.
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    for (k, op) in before.iter().enumerate() {
        if !writes_point(k) {
            record(op, &mut encoder, look);
        }
    }
    Evaluator::record_gradient(plan(&t.rec, main, size), &mut encoder);
    gpu.checked("the main pass", || gpu.queue.submit([encoder.finish()]))?;
    let point = dual.point.read_after(point_at).await?;
    let job = Job {
        step: t.steps + 1,
        point,
        batch: remote_batch.clone(),
    };
    let answer = dual
        .transport
        .send(job)
        .and_then(|_| dual.transport.receive());
    // (3) The update.
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    let metrics = match answer {
        Ok(reply) => {
            gpu.write(t.rec.vector(into), 0, &reply.grad)?;
            Some(reply.metrics)
        }
        Err(e) => {
            eprintln!(
                "warning: the dual schedule's worker failed at step {} ({e}); continuing on {} \
                 alone with the interleaved schedule",
                t.steps + 1,
                gpu.adapter.short()
            );
            let plan = t.rec.evaluators[remote].load(gpu, remote_batch)?;
            Evaluator::record_gradient(plan, &mut encoder);
            None
        }
    };
    for op in &after[1..] {
        if !matches!(op, Prepared::Grad(i) if *i == remote) {
            record(op, &mut encoder, look);
        }
    }
    let reported = t
        .rec
        .program
        .pass_index(t.rec.program.reports)
        .expect("a pass");
    let Placed::Dual(dual) = &mut t.placed else {
        unreachable!("still dual")
    };
    let update_writes_point = t.rec.speculative.is_some();
    if metrics.is_some() && update_writes_point {
        dual.point.record(&mut encoder, t.rec.vector(at));
    }
    let local = metrics.is_none() || reported != remote;
    if local {
        let n = if reported == main {
            size
        } else {
            remote_batch.len()
        };
        t.readback
            .record(&mut encoder, &plan(&t.rec, reported, n).metrics);
    }
    let index = gpu.checked("the update", || gpu.queue.submit([encoder.finish()]))?;
    if metrics.is_some() && update_writes_point {
        dual.staged = Some(index.clone());
    }
    if metrics.is_none() {
        t.placed = Placed::Interleaved;
    }
    t.finish_step(batch);
    match metrics {
        Some(m) if !local => Ok(m),
        _ => read(&t.readback, index).await,
    }
}

fn record(op: &Prepared, encoder: &mut wgpu::CommandEncoder, look: bool) {
    match op {
        Prepared::Perturb(d) => d.record(encoder),
        Prepared::LookAhead(l, _) if look => l.dispatch.record(encoder),
        Prepared::Step(s, _) => s.dispatch.record(encoder),
        Prepared::LookAhead(..) | Prepared::Noise(_) | Prepared::Grad(_) => {}
    }
}
