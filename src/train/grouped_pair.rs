//! SAMPa's step with m-sharpness (`--optimizer sampa --m-sharpness M`; `optim::sampa`'s
//! grouped program). The previous batch B_t and the current B_t+1 are each split into groups
//! of M consecutive examples; a short batch ends with a shorter group, and at an epoch's end
//! the two batches can have different numbers of groups.
//!
//! The look-ahead runs once. Then group s runs SAMPa's pair on groups of its own: x̃_s is x
//! perturbed by the group's g_y (kept from the last step, when B_t was the current batch, in a
//! buffer per group) and its pass takes group s of B_t; the y pass takes group s of
//! B_t+1 and its gradient is kept for the next step. The accumulations sum both gradients
//! over the groups, which are divided by their counts before the update. A group only one of
//! the batches has runs that batch's pass alone (with the operations before the pair, which
//! prepare x̃, only when B_t has the group).
//!
//! Group s's kept g_y (`kept.rs`) is copied into the program's `GyGroup` before its
//! perturbation, and the y pass's gradient is copied back after it, so the program's kernels
//! read and write whole vectors as always. Each group's inputs go to the same plans, so each group is a submission
//! of its own; the driver (`step.rs`) submits the last.
//!
//! The pair runs as the schedule places it, group by group: serially, interleaved, or fused
//! when both groups have one size. Under `dual` the main device runs the x̃ passes while the
//! worker takes the whole of B_t+1 with the group size and answers each group's gradient;
//! the update then writes each into `GyGroup` and accumulates and keeps it with the local
//! schedules' kernels, so every schedule gives the same bits.
//!
//! Each group of a pass draws dropout masks of its own (`kernels::dropout::group_key`; the
//! worker derives its groups' keys from its job's the same way).
//!
//! The readback is laid out as `groups.rs` lays out SAM's: the reported pass's metrics group
//! by group after the trainer's other values, then the statistics of the passes `--bn-stats`
//! names in the order the passes run (`Program::group_order`), folded in that order.

use super::dual_step::{ask_worker, stage_point, worker_failed};
use super::flight::Recording;
use super::groups::{group_key, mean_of, refuse_shards, reserve, set_group_key};
use super::kept::Kept;
use super::local_step::{placed_plan, record_pass};
use super::recorder::Prepared;
use super::schedule::fused::FusedPair;
use super::schedule::transport::Reply;
use super::trainer::{Batches, Placed, Trainer, plan};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::evaluator::Evaluator;
use crate::optim::program::{On, Op, Vector, group_order};

/// The groups of the batch pass `i` takes.
fn groups_of<'a>(kept: &'a Kept, t: &Trainer, i: usize) -> &'a [Batch] {
    match t.rec.passes[i].on {
        On::Previous => &kept.previous,
        On::Current | On::Selected => &kept.current,
    }
}

/// Group `s` of the batch pass `i` takes, if that batch has one.
fn group<'a>(kept: &'a Kept, t: &Trainer, i: usize, s: usize) -> Option<&'a Batch> {
    groups_of(kept, t, i).get(s)
}

/// What the step's groups are: the pair (x̃'s pass, y's), each's count of groups, the slots
/// of the statistics as (group, index in the pair), and where the metrics and statistics lie
/// in the readback.
struct Layout {
    pair: [usize; 2],
    counts: [usize; 2],
    reported: usize,
    slots: Vec<(usize, usize)>,
    metrics_at: usize,
    stats_at: usize,
    per_slot: usize,
}

impl Layout {
    fn new(t: &Trainer, kept: &Kept) -> Layout {
        let pair = t.pair.expect("SAMPa's pair");
        let counts = pair.map(|i| groups_of(kept, t, i).len());
        let reported = pair
            .iter()
            .position(|&i| i == t.rec.reported)
            .expect("the reported pass is one of the pair");
        let names = t.norm_stats.as_ref().map_or(&[][..], |ns| &ns.passes[..]);
        let slots = group_order(&counts)
            .into_iter()
            .filter(|&(_, r)| names.contains(&pair[r]))
            .collect();
        let metrics_at = t.watch.at() + t.watch.len();
        Layout {
            pair,
            counts,
            reported,
            slots,
            metrics_at,
            stats_at: metrics_at + 2 * counts[reported],
            per_slot: t.norm_stats.as_ref().map_or(0, |ns| ns.per_pass()),
        }
    }

    /// Values of the readback the step needs.
    fn len(&self) -> usize {
        self.stats_at + self.slots.len() * self.per_slot
    }

    /// Groups in the step: the larger count.
    fn groups(&self) -> usize {
        self.counts[0].max(self.counts[1])
    }

    /// Which of the pair has group s.
    fn has(&self, s: usize) -> [bool; 2] {
        self.counts.map(|c| s < c)
    }

    /// The index in the pair of the pass whose gradient an accumulation at `k` sums.
    fn summed_by(&self, t: &Trainer, k: usize) -> usize {
        let Op::Accumulate { from, .. } = t.rec.program.ops[k] else {
            unreachable!("operation {k} is an accumulation")
        };
        let writes = |r: &usize| t.rec.passes[self.pair[*r]].into == from;
        (0..2)
            .find(writes)
            .expect("each accumulation sums one of the pair")
    }
}

/// Record a step of SAMPa with m-sharpness on `batch` (see above); `look` as
/// `local_step::record`'s.
pub(crate) async fn record(
    t: &mut Trainer,
    gpu: &Gpu,
    batch: &Batch,
    look: bool,
) -> Result<Recording> {
    let m = refuse_shards(t)?;
    let mut kept = t.kept.take().unwrap_or_default();
    let previous = t.previous.as_ref().unwrap_or(batch);
    crate::data::split_groups(previous, m, &mut kept.previous);
    crate::data::split_groups(batch, m, &mut kept.current);
    let lay = Layout::new(t, &kept);
    let grown = kept.grow(gpu, t.rec.vector(Vector::GyGroup), lay.groups());
    let recorded = match (grown, &t.placed) {
        (Err(e), _) => Err(e),
        (Ok(()), Placed::Dual(_)) => record_dual(t, gpu, (&kept, &lay), (batch, m), look).await,
        (Ok(()), _) => record_local(t, gpu, (&kept, &lay), look),
    };
    t.kept = Some(kept);
    recorded
}

/// The pair on this device, group by group.
fn record_local(
    t: &mut Trainer,
    gpu: &Gpu,
    (kept, lay): (&Kept, &Layout),
    look: bool,
) -> Result<Recording> {
    reserve(t, gpu, lay.len());
    let mut r = Recording::new(gpu);
    let range = t.rec.program.per_group();
    for op in &t.rec.ops[..range.start] {
        op.record_outside_passes(&mut r.encoder, look);
    }
    let mut fused_all = true;
    for s in 0..lay.groups() {
        let has = lay.has(s);
        let fused = load(t, gpu, kept, lay, s)?;
        fused_all &= fused || has != [true, true];
        if has[0] {
            perturb(t, kept, s, look, &mut r.encoder);
        }
        let a = lay.pair[0];
        match lay.pair.map(|i| group(kept, t, i, s)) {
            [Some(x), Some(y)] => {
                let batches = group_batches(t, a, x, y);
                record_pass(t, &mut r.encoder, a, fused, batches);
            }
            groups => {
                for (i, g) in lay.pair.into_iter().zip(groups) {
                    if let Some(g) = g {
                        Evaluator::record_gradient(plan(&t.rec, i, g.len()), &mut r.encoder);
                    }
                }
            }
        }
        if has[0] {
            sum(t, lay, (0, s), &mut r.encoder);
        }
        if has[1] {
            keep(t, (kept, lay), s, &mut r);
        }
        record_copies(t, (kept, lay), (s, [true; 2]), fused, &mut r);
        if s + 1 < lay.groups() {
            r.submit_so_far(gpu, "a group of the step")?;
        }
    }
    t.fused_steps += (fused_all && matches!(t.placed, Placed::Fused(_))) as usize;
    finish(t, gpu, (kept, lay), look, &mut r)?;
    Ok(r)
}

/// The x̃ passes here, group by group, while the worker takes the y passes (see above).
async fn record_dual(
    t: &mut Trainer,
    gpu: &Gpu,
    (kept, lay): (&Kept, &Layout),
    (batch, m): (&Batch, usize),
    look: bool,
) -> Result<Recording> {
    let [a, b] = lay.pair;
    let pair_at = t
        .rec
        .ops
        .iter()
        .position(|op| matches!(op, Prepared::Grad(i) if *i == a));
    let pair_at = pair_at.expect("the pair's first pass is an operation");
    let point_at = stage_point(t, gpu, (pair_at, t.rec.passes[b].at), look)?;
    reserve(t, gpu, lay.len());
    let mut r = Recording::new(gpu);
    for s in 0..lay.counts[0] {
        let x = group(kept, t, a, s).expect("counted");
        set_group_key(t, a, s)?;
        let size = t.rec.evaluators[a].load(gpu, x)?.batch;
        perturb(t, kept, s, look, &mut r.encoder);
        Evaluator::record_gradient(plan(&t.rec, a, size), &mut r.encoder);
        sum(t, lay, (0, s), &mut r.encoder);
        record_copies(t, (kept, lay), (s, [true, false]), false, &mut r);
        r.submit_so_far(gpu, "a group of the step")?;
    }
    let remote = Batches::new(batch, &t.previous)
        .of(&t.rec.passes, b)
        .clone();
    let answer = ask_worker(t, point_at, b, (remote, Some(m))).await;
    let n = t.rec.vector(Vector::GyGroup).len;
    let answered = match answer {
        Ok(reply) if reply.grad.len() == lay.counts[1] * n => {
            take_reply(t, gpu, (kept, lay), reply, &mut r)?;
            true
        }
        Ok(reply) => {
            return Err(Error::Invalid(format!(
                "the dual worker answered {} gradient values for {} groups of {n} parameters; \
                 both sides must run the same sampa build",
                reply.grad.len(),
                lay.counts[1]
            )));
        }
        Err(e) => {
            worker_failed(t, gpu, e)?;
            for h in 0..lay.counts[1] {
                let y = group(kept, t, b, h).expect("counted");
                set_group_key(t, b, h)?;
                let size = t.rec.evaluators[b].load(gpu, y)?.batch;
                Evaluator::record_gradient(plan(&t.rec, b, size), &mut r.encoder);
                keep(t, (kept, lay), h, &mut r);
                record_copies(t, (kept, lay), (h, [false, true]), false, &mut r);
                if h + 1 < lay.counts[1] {
                    r.submit_so_far(gpu, "a group of the step")?;
                }
            }
            false
        }
    };
    finish(t, gpu, (kept, lay), look, &mut r)?;
    r.stages_point = answered && t.rec.speculative.is_some();
    if let (true, Placed::Dual(dual)) = (r.stages_point, &t.placed) {
        dual.point
            .record(&mut r.encoder, t.rec.vector(t.rec.passes[b].at));
    }
    Ok(r)
}

/// The worker's gradients, group by group, into `GyGroup` to be summed and kept as the
/// local schedules do; its metrics and statistics.
fn take_reply(
    t: &mut Trainer,
    gpu: &Gpu,
    (kept, lay): (&Kept, &Layout),
    reply: Reply,
    r: &mut Recording,
) -> Result<()> {
    let group = t.rec.vector(Vector::GyGroup);
    let n = group.len;
    for h in 0..lay.counts[1] {
        // Ordered after the submissions above, which read what GyGroup held before.
        gpu.write(group, 0, &reply.grad[h * n..(h + 1) * n])?;
        keep(t, (kept, lay), h, r);
        if h + 1 < lay.counts[1] {
            r.submit_so_far(gpu, "a group's g_y from the worker")?;
        }
    }
    if lay.reported == 1 {
        r.known = Some(reply.metrics);
    }
    for (j, &(h, pass)) in lay.slots.iter().enumerate() {
        let values = reply.state.get(h * lay.per_slot..(h + 1) * lay.per_slot);
        if let (1, Some(v)) = (pass, values) {
            r.remote.push((j, v.to_vec()));
        }
    }
    Ok(())
}

/// Group `s`'s x̃: its kept g_y copied into `GyGroup`, then the operations before the pair
/// (SAM-ON's mask, the perturbation).
fn perturb(t: &Trainer, kept: &Kept, s: usize, look: bool, encoder: &mut wgpu::CommandEncoder) {
    kept.copies[s][0].record(encoder);
    for op in &t.rec.ops[t.rec.program.per_group()] {
        if !matches!(op, Prepared::Grad(_) | Prepared::Accumulate { .. }) {
            op.record_outside_passes(encoder, look);
        }
    }
}

/// Group `s`'s part of the accumulations that sum pass `pair[r]`'s gradient: the first
/// group's copy, the others' sum.
fn sum(t: &Trainer, lay: &Layout, (r, s): (usize, usize), encoder: &mut wgpu::CommandEncoder) {
    for k in t.rec.program.per_group() {
        if let Prepared::Accumulate { first, rest, .. } = &t.rec.ops[k]
            && lay.summed_by(t, k) == r
        {
            if s == 0 { first } else { rest }.record(encoder);
        }
    }
}

/// After group `h`'s y pass: its gradient summed, and kept for the next step.
fn keep(t: &Trainer, (kept, lay): (&Kept, &Layout), h: usize, r: &mut Recording) {
    sum(t, lay, (1, h), &mut r.encoder);
    kept.copies[h][1].record(&mut r.encoder);
}

/// `Batches` for a group's pair: `a`'s group `x` and the other pass's `y`, each where its
/// pass looks.
fn group_batches<'a>(t: &Trainer, a: usize, x: &'a Batch, y: &'a Batch) -> Batches<'a> {
    let (previous, current) = match t.rec.passes[a].on {
        On::Previous => (x, y),
        On::Current | On::Selected => (y, x),
    };
    Batches {
        current,
        previous,
        selected: current,
    }
}

/// Load group `s` of each pass's batch (into the fused replicas when both have it at one
/// size); returns whether the group's pair runs fused.
fn load(t: &mut Trainer, gpu: &Gpu, kept: &Kept, lay: &Layout, s: usize) -> Result<bool> {
    let groups = lay.pair.map(|i| group(kept, t, i, s));
    let keys = lay.pair.map(|i| group_key(t, i, s));
    if let (Placed::Fused(pair), [Some(x), Some(y)]) = (&mut t.placed, groups)
        && x.len() == y.len()
    {
        if t.spec.model.has_dropout() {
            pair.set_dropout_keys(keys)?;
        }
        pair.load(gpu, [x, y])?;
        return Ok(true);
    }
    for (i, g) in lay.pair.into_iter().zip(groups) {
        if let Some(g) = g {
            set_group_key(t, i, s)?;
            t.rec.evaluators[i].load(gpu, g)?;
        }
    }
    Ok(false)
}

/// Group `s`'s copies into the readback of what the passes of the pair that ran `here`
/// left: the reported pass's metrics and the statistics of the group's slots.
fn record_copies(
    t: &Trainer,
    (kept, lay): (&Kept, &Layout),
    (s, here): (usize, [bool; 2]),
    fused: bool,
    r: &mut Recording,
) {
    let placed = |i: usize| {
        let [x, y] = lay.pair.map(|i| group(kept, t, i, s));
        match (x, y) {
            (Some(x), Some(y)) => placed_plan(t, fused, group_batches(t, lay.pair[0], x, y), i),
            _ => {
                let r = lay
                    .pair
                    .iter()
                    .position(|&p| p == i)
                    .expect("a pass of the pair");
                let size = [x, y][r].map_or(0, Batch::len);
                (plan(&t.rec, i, size), 0)
            }
        }
    };
    let reported = lay.pair[lay.reported];
    if lay.has(s)[lay.reported] && here[lay.reported] {
        let (p, replica) = placed(reported);
        let at = lay.metrics_at + 2 * s;
        let from = FusedPair::metrics_at(replica);
        t.readback()
            .record_part(&mut r.encoder, &p.metrics, from, 2, at);
    }
    for (j, &(group, pass)) in lay.slots.iter().enumerate() {
        if group == s && here[pass] {
            let (p, replica) = placed(lay.pair[pass]);
            let at = lay.stats_at + j * lay.per_slot;
            p.record_batch_stats(&mut r.encoder, t.readback(), replica, at);
        }
    }
}

/// The accumulations' divisions by their counts, the update after the groups, and what the
/// readback holds.
fn finish(
    t: &mut Trainer,
    gpu: &Gpu,
    (kept, lay): (&Kept, &Layout),
    look: bool,
    r: &mut Recording,
) -> Result<()> {
    let range = t.rec.program.per_group();
    for k in range.clone() {
        if matches!(t.rec.program.ops[k], Op::Accumulate { .. }) {
            let count = lay.counts[lay.summed_by(t, k)];
            mean_of(t, gpu, k, count)?.record(&mut r.encoder);
        }
    }
    for op in &t.rec.ops[range.end..] {
        op.record_outside_passes(&mut r.encoder, look);
    }
    let size = |s: usize, r: usize| group(kept, t, lay.pair[r], s).map_or(0, Batch::len);
    r.sizes = lay.slots.iter().map(|&(s, pass)| size(s, pass)).collect();
    r.groups = (0..lay.counts[lay.reported])
        .map(|s| size(s, lay.reported))
        .collect();
    Ok(())
}
