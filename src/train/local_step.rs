//! The step of a program whose passes all run on its own device, as `serial`, `interleaved`
//! or `fused` places its pair: load the batches, then record every operation into the step's
//! one submission, with the copies of the reported pass's metrics and of the batch
//! statistics (the driver, `step.rs`, submits it).

use super::flight::Recording;
use super::schedule::fused::FusedPair;
use super::trainer::{Batches, Placed, Trainer, plan};
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::evaluator::Evaluator;
use crate::nn::plan::Plan;
use crate::optim::program::On;

use super::recorder::Prepared;

/// Record a step with the pair placed on this device; `look` says whether the look-ahead must
/// run (see `Trainer::set_hyper`).
pub(crate) async fn record(
    t: &mut Trainer,
    gpu: &Gpu,
    batch: &Batch,
    look: bool,
) -> Result<Recording> {
    let mut r = Recording::new(gpu);
    diagnose(t, gpu, batch, &mut r.encoder)?;
    let fused = load(t, gpu, batch)?;
    // A program with two forms records the operations both share, learns which form the
    // step takes, and records the rest of that form.
    let shared = t.choice.as_ref().map_or(t.rec.ops.len(), |c| c.shared);
    record_ops(
        t,
        gpu,
        (batch, fused, look),
        (Form::Full, 0..shared),
        &mut r,
    )
    .await?;
    r.other_form = super::choice::other_form(t.choice.as_mut(), t.steps, gpu, &mut r).await?;
    let rest = match r.other_form {
        true => (Form::Other, 0..t.rec.other.len()),
        false => (Form::Full, shared..t.rec.ops.len()),
    };
    record_ops(t, gpu, (batch, fused, look), rest, &mut r).await?;
    let batches = Batches::new(batch, &t.previous).with_selected(&t.selected);
    let (p, replica) = placed_plan(t, fused, batches, t.rec.reported);
    let at = FusedPair::metrics_at(replica);
    t.readback()
        .record_part(&mut r.encoder, &p.metrics, at, 2, 0);
    if let Some(ns) = &t.norm_stats {
        for (slot, &i) in ns.passes.iter().enumerate() {
            let (p, replica) = placed_plan(t, fused, batches, i);
            ns.record((&mut r.encoder, t.readback()), slot, p, replica);
        }
        r.sizes = ns
            .passes
            .iter()
            .map(|&i| batches.of(&t.rec.passes, i).len())
            .collect();
    }
    Ok(r)
}

/// Load every pass's batch (the pair's into the fused replicas when they share a size);
/// returns whether the pair runs fused this step.
fn load(t: &mut Trainer, gpu: &Gpu, batch: &Batch) -> Result<bool> {
    let batches = Batches::new(batch, &t.previous);
    let size = |i: usize| batches.of(&t.rec.passes, i).len();
    // Replicas share a batch size: a step whose two batches differ (at an epoch's end) runs
    // its pair serially.
    let fused = match (&mut t.placed, t.pair) {
        (Placed::Fused(pair), Some([a, b])) if size(a) == size(b) => {
            pair.load(
                gpu,
                [batches.of(&t.rec.passes, a), batches.of(&t.rec.passes, b)],
            )?;
            true
        }
        _ => false,
    };
    // A pass on selected examples gets them when the selection has chosen.
    for i in 0..t.rec.evaluators.len() {
        let paired = fused && t.pair.is_some_and(|p| p.contains(&i));
        if !paired && t.rec.passes[i].on != On::Selected {
            let b = batches.of(&t.rec.passes, i);
            t.rec.evaluators[i].load(gpu, b)?;
        }
    }
    t.fused_steps += fused as usize;
    Ok(fused)
}

/// Which of a trainer's prepared operation lists.
#[derive(Clone, Copy)]
enum Form {
    /// The program's operations.
    Full,
    /// Its other form's after the shared ones.
    Other,
}

/// Record operations `range` of the `form` list; a selection among them submits what is
/// recorded and waits for the host's choice (`select.rs`).
async fn record_ops(
    t: &mut Trainer,
    gpu: &Gpu,
    (batch, fused, look): (&Batch, bool, bool),
    (form, range): (Form, std::ops::Range<usize>),
    r: &mut Recording,
) -> Result<()> {
    fn ops(t: &Trainer, form: Form) -> &[Prepared] {
        match form {
            Form::Full => &t.rec.ops,
            Form::Other => &t.rec.other,
        }
    }
    for k in range {
        if let Prepared::Select(s) = ops(t, form)[k] {
            super::select::select(t, gpu, batch, s, r).await?;
            continue;
        }
        let batches = Batches::new(batch, &t.previous).with_selected(&t.selected);
        match &ops(t, form)[k] {
            Prepared::Grad(i) => record_pass(t, &mut r.encoder, *i, fused, batches),
            op => op.record_outside_passes(&mut r.encoder, look),
        }
    }
    Ok(())
}

/// On a diagnosed step (`batch` is the one just loaded), record the diagnosis's pass at x (see `probes.rs`) before the step's
/// operations move x; its reductions follow in the driver's tail.
pub(crate) fn diagnose(
    t: &mut Trainer,
    gpu: &Gpu,
    batch: &Batch,
    encoder: &mut wgpu::CommandEncoder,
) -> Result<()> {
    let step = t.steps + 1;
    let Some(y) = t
        .diagnosis
        .as_ref()
        .filter(|d| d.due(step))
        .map(|d| d.y_pass)
    else {
        return Ok(());
    };
    let key = t.dropout_key(y);
    let batch = Batches::new(batch, &t.previous).of(&t.rec.passes, y);
    let d = t.diagnosis.as_mut().expect("checked above");
    d.record_pass(gpu, (batch, key), encoder)
}

/// The plan that computed pass `i` this step, and its replica there: replica r of the fused
/// plan for the r-th pass of a fused pair, else the pass's own plan.
pub(crate) fn placed_plan<'a>(
    t: &'a Trainer,
    fused: bool,
    batches: Batches<'_>,
    i: usize,
) -> (&'a Plan, usize) {
    let size = batches.of(&t.rec.passes, i).len();
    let in_pair = t.pair.and_then(|p| p.iter().position(|&q| q == i));
    match (&t.placed, fused, in_pair) {
        (Placed::Fused(pair), true, Some(r)) => (pair.plan(size), r),
        _ => (plan(&t.rec, i, size), 0),
    }
}

/// Record pass `i`, or the whole pair when `i` opens it.
pub(crate) fn record_pass(
    t: &Trainer,
    encoder: &mut wgpu::CommandEncoder,
    i: usize,
    fused: bool,
    batches: Batches<'_>,
) {
    let plan_of = |i: usize| plan(&t.rec, i, batches.of(&t.rec.passes, i).len());
    let Some([a, b]) = t.pair else {
        return Evaluator::record_gradient(plan_of(i), encoder);
    };
    if i == b {
        return; // recorded with a
    }
    if i != a {
        return Evaluator::record_gradient(plan_of(i), encoder);
    }
    match &t.placed {
        Placed::Fused(pair) if fused => {
            let evals = [&t.rec.evaluators[a], &t.rec.evaluators[b]];
            pair.record(batches.of(&t.rec.passes, a).len(), evals, encoder);
        }
        Placed::Interleaved => {
            Evaluator::record_gradients_interleaved(plan_of(a), plan_of(b), encoder);
        }
        _ => {
            Evaluator::record_gradient(plan_of(a), encoder);
            Evaluator::record_gradient(plan_of(b), encoder);
        }
    }
}
