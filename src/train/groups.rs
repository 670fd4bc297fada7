//! The step of a grouped program (m-sharpness, `--m-sharpness M`; `Program::grouped`): the
//! batch is split into groups of M consecutive examples (an epoch's short last batch ends with
//! a shorter group), and the operations up to the program's accumulation run once per group,
//! on that group alone: SAM's gradient, perturbation and perturbed gradient of group s give
//! ∇L_s(x + ε_s), and the accumulation sums them. Each group's inputs go to the same plans, so
//! each group is its own submission (the writes of the next wait for it), but the last, which
//! the driver submits with the rest. The sum is then divided by the number of groups and the
//! step's remaining operations (the base step) follow.
//!
//! The reported loss is the pass at x over the whole batch: each group's mean loss and correct
//! count are copied after the trainer's other readback values, and the host weighs them by
//! the groups' sizes. BatchNorm normalises each group by its own statistics, and the passes
//! `--bn-stats` names fold theirs into the running statistics group by group, in the order
//! they ran (as a loop over the groups in PyTorch would): their copies follow the metrics.
//! Each group of a pass draws dropout masks of its own, from a key derived from the pass's
//! (`kernels::dropout::group_key`; group 0's is the pass's).

use super::flight::Recording;
use super::recorder::Prepared;
use super::trainer::{Trainer, plan};
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::{Gpu, Readback};
use crate::kernels::{Dispatch, vector};
use crate::nn::evaluator::Evaluator;
use crate::optim::program::Op;

/// The whole batch's `[mean loss, correct count]` from each group's, in `values` two by two,
/// weighed by the groups' `sizes`.
pub(crate) fn combine(values: &[f32], sizes: &[usize]) -> [f32; 2] {
    let total: usize = sizes.iter().sum();
    let (mut loss, mut correct) = (0.0f64, 0.0f64);
    for (s, &n) in sizes.iter().enumerate() {
        loss += values[2 * s] as f64 * n as f64;
        correct += values[2 * s + 1] as f64;
    }
    [(loss / total.max(1) as f64) as f32, correct as f32]
}

/// Record a grouped step on `batch` (see above); `look` as `local_step::record`'s.
pub(crate) fn record(t: &mut Trainer, gpu: &Gpu, batch: &Batch, look: bool) -> Result<Recording> {
    let m = refuse_shards(t)?;
    let per_group = t.rec.program.per_group();
    let mut groups = std::mem::take(&mut t.groups);
    crate::data::split_groups(batch, m, &mut groups);
    let count = groups.len();
    // Each group's metrics go after the readback's other values, then its statistics.
    let at = t.watch.at() + t.watch.len();
    let stats_at = at + 2 * count;
    let of_group = |ns: &super::norm_stats::NormStats| ns.passes.len() * ns.per_pass();
    let stats = t.norm_stats.as_ref().map_or(0, of_group);
    reserve(t, gpu, stats_at + count * stats);
    let mut r = Recording::new(gpu);
    for (s, group) in groups.iter().enumerate() {
        for i in 0..t.rec.evaluators.len() {
            set_group_key(t, i, s)?;
            t.rec.evaluators[i].load(gpu, group)?;
        }
        for op in &t.rec.ops[per_group.clone()] {
            match op {
                Prepared::Grad(i) => {
                    Evaluator::record_gradient(plan(&t.rec, *i, group.len()), &mut r.encoder)
                }
                Prepared::Accumulate { first, rest, .. } => match s {
                    0 => first.record(&mut r.encoder),
                    _ => rest.record(&mut r.encoder),
                },
                op => op.record_outside_passes(&mut r.encoder, look),
            }
        }
        let metrics = &plan(&t.rec, t.rec.reported, group.len()).metrics;
        t.readback()
            .record_part(&mut r.encoder, metrics, 0, 2, at + 2 * s);
        if let Some(ns) = &t.norm_stats {
            for (j, &i) in ns.passes.iter().enumerate() {
                let slot_at = stats_at + s * stats + j * ns.per_pass();
                let p = plan(&t.rec, i, group.len());
                p.record_batch_stats(&mut r.encoder, t.readback(), 0, slot_at);
            }
            r.sizes
                .extend(std::iter::repeat_n(group.len(), ns.passes.len()));
        }
        if s + 1 < count {
            r.submit_so_far(gpu, "a group of the step")?;
        }
    }
    mean_of(t, gpu, per_group.end - 1, count)?.record(&mut r.encoder);
    for op in &t.rec.ops[per_group.end..] {
        op.record_outside_passes(&mut r.encoder, look);
    }
    r.groups = groups.iter().map(Batch::len).collect();
    t.groups = groups;
    Ok(r)
}

/// The group size of a grouped program, or an error for a data-parallel shard, whose batch
/// is not split into groups.
pub(crate) fn refuse_shards(t: &Trainer) -> Result<usize> {
    if t.shard.is_some() {
        return Err(crate::error::Error::Invalid(
            "--m-sharpness: data-parallel runs (--schedule mpi with more than two ranks) do not \
             split their batches into groups yet; run it on one rank"
                .into(),
        ));
    }
    Ok(t.rec.program.grouped.expect("a grouped program"))
}

/// Pass `i`'s dropout key for group `s` of the step (`kernels::dropout::group_key`).
pub(crate) fn group_key(t: &Trainer, i: usize, s: usize) -> u32 {
    crate::kernels::dropout::group_key(t.dropout_key(i), s)
}

/// Give pass `i`'s evaluator its key for group `s`, for models with dropout: each group
/// draws masks of its own, as each group's forward pass in PyTorch would.
pub(crate) fn set_group_key(t: &mut Trainer, i: usize, s: usize) -> Result<()> {
    if !t.spec.model.has_dropout() {
        return Ok(());
    }
    let key = group_key(t, i, s);
    t.rec.evaluators[i].set_dropout_keys(&[key])
}

/// Make the readback the step writes hold at least `values` values.
pub(crate) fn reserve(t: &mut Trainer, gpu: &Gpu, values: usize) {
    if t.readback().capacity() < values {
        t.readbacks[t.slot] = Readback::new(gpu, values);
    }
}

/// The division by `count` groups of the sum that accumulation `k` (an operation's index)
/// left, prepared once per vector and count (a run has at most two counts: its batches' and
/// its short last batch's).
pub(crate) fn mean_of<'a>(
    t: &'a mut Trainer,
    gpu: &Gpu,
    k: usize,
    count: usize,
) -> Result<&'a Dispatch> {
    let (Op::Accumulate { into, .. }, Prepared::Accumulate { into: sum, .. }) =
        (t.rec.program.ops[k], &t.rec.ops[k])
    else {
        unreachable!("operation {k} is an accumulation")
    };
    let key = (into, count);
    if !t.group_means.iter().any(|(c, _)| *c == key) {
        let d = vector::prepare_scale(gpu, 1.0 / count as f32, sum.view())?;
        t.group_means.push((key, d));
    }
    let (_, d) = t
        .group_means
        .iter()
        .find(|(c, _)| *c == key)
        .expect("made above");
    Ok(d)
}
