//! The `dual` schedule's step (the schedule and its state are `schedule/dual.rs`'s): three
//! submissions around the worker's pass, as that file describes; the driver (`step.rs`)
//! submits the third.

use super::flight::Recording;
use super::recorder::Prepared;
use super::schedule::transport::{Job, Reply};
use super::trainer::{Batches, Placed, Trainer, plan};
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::evaluator::Evaluator;
use crate::optim::program::Vector;

/// What one dual step works with: the pair's passes, the worker's point and gradient
/// vectors, the remote pass's batch, and where the pair starts in the program.
struct Parts {
    main: usize,
    remote: usize,
    point: Vector,
    grad: Vector,
    remote_batch: Batch,
    main_size: usize,
    pair_at: usize,
}

impl Parts {
    /// The batch size of pass `i` of the pair.
    fn size(&self, i: usize) -> usize {
        if i == self.main {
            self.main_size
        } else {
            self.remote_batch.len()
        }
    }
}

/// Record a step with the pair's second pass on the worker (submitting the first two of its
/// submissions); `look` says whether the look-ahead must run (see `Trainer::set_hyper`).
pub(crate) async fn record(
    t: &mut Trainer,
    gpu: &Gpu,
    batch: &Batch,
    look: bool,
) -> Result<Recording> {
    let parts = prepare(t, gpu, batch)?;
    let point_at = stage_point(t, gpu, (parts.pair_at, parts.point), look)?;
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    super::local_step::diagnose(t, gpu, batch, &mut encoder)?;
    gpu.checked("the diagnosis", || gpu.submit(encoder.finish()))?;
    let batch = (parts.remote_batch.clone(), None);
    let mut answer = if t.shard.as_ref().is_some_and(|s| s.sync_bn) {
        // With --sync-bn the main pass waits for the other mains at every BatchNorm, so the
        // worker gets its job first and computes meanwhile.
        let sent = send_job(t, point_at, parts.remote, batch).await;
        submit_main(t, gpu, &parts, look).await?;
        sent.and_then(|_| receive(t))
    } else {
        // The main pass is submitted at once, and the device computes it while the host waits
        // for the worker's point and sends it.
        submit_main(t, gpu, &parts, look).await?;
        ask_worker(t, point_at, parts.remote, batch).await
    };
    if let (Ok(reply), Some(shard)) = (&mut answer, &mut t.shard) {
        // Data-parallel pairs: both passes summed over the mains before the update reads them.
        let grad = t.rec.vector(t.rec.passes[parts.main].into);
        shard.gradients(gpu, grad, Some(&mut reply.grad)).await?;
    }
    record_update(t, gpu, &parts, look, answer)
}

/// The pair's passes and batches, with the main pass's batch loaded.
fn prepare(t: &mut Trainer, gpu: &Gpu, batch: &Batch) -> Result<Parts> {
    let [main, remote] = t.pair.expect("dual needs a pair");
    let batches = Batches::new(batch, &t.previous);
    let passes = &t.rec.passes;
    // The job takes its batch by value, since a transport may send it to another process.
    let remote_batch = batches.of(passes, remote).clone();
    let (point, grad) = (passes[remote].at, passes[remote].into);
    let main_batch = batches.of(passes, main);
    let main_size = t.rec.evaluators[main].load(gpu, main_batch)?.batch;
    let pair_at = t
        .rec
        .ops
        .iter()
        .position(|op| matches!(op, Prepared::Grad(i) if *i == main));
    Ok(Parts {
        main,
        remote,
        point,
        grad,
        remote_batch,
        main_size,
        pair_at: pair_at.expect("the pair's first pass is an operation"),
    })
}

/// Send the worker its job for pass `remote` (`batch`, with its group size for
/// m-sharpness) at the point staged in submission `point_at`, and wait for its answer.
pub(crate) async fn ask_worker(
    t: &mut Trainer,
    point_at: wgpu::SubmissionIndex,
    remote: usize,
    batch: (Batch, Option<usize>),
) -> Result<Reply> {
    send_job(t, point_at, remote, batch).await?;
    receive(t)
}

/// Send the worker the job [`ask_worker`] describes, without waiting for the answer.
async fn send_job(
    t: &mut Trainer,
    point_at: wgpu::SubmissionIndex,
    remote: usize,
    (batch, group): (Batch, Option<usize>),
) -> Result<()> {
    let dropout_key = t.dropout_key(remote);
    let step = t.steps + 1;
    // Data-parallel pairs with --sync-bn: the worker combines its BatchNorm sums with the
    // other workers', weighted by this shard's share.
    let sync_share = t
        .shard
        .as_ref()
        .filter(|s| s.sync_bn && group.is_none())
        .map(|s| s.weight);
    let Placed::Dual(dual) = &mut t.placed else {
        unreachable!("checked by the caller")
    };
    let point = dual.point.read_after(point_at).await?;
    let job = Job {
        step,
        point,
        batch,
        dropout_key,
        group,
        sync_share,
    };
    dual.transport.send(job)
}

/// The worker's answer to the job sent last.
fn receive(t: &mut Trainer) -> Result<Reply> {
    let Placed::Dual(dual) = &mut t.placed else {
        unreachable!("checked by the caller")
    };
    dual.transport.receive()
}

/// (1) The operations before the pair (at `pair_at`) that write the worker's `point`, then
/// its copy into the staging buffer; nothing when the last update already staged it.
/// Returns the submission the point's copy belongs to.
pub(crate) fn stage_point(
    t: &mut Trainer,
    gpu: &Gpu,
    (pair_at, point): (usize, Vector),
    look: bool,
) -> Result<wgpu::SubmissionIndex> {
    let Placed::Dual(dual) = &mut t.placed else {
        unreachable!("checked by the caller")
    };
    if let (false, Some(index)) = (look, dual.staged.take()) {
        return Ok(index);
    }
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    for (k, op) in t.rec.ops[..pair_at].iter().enumerate() {
        if t.rec.program.writes(&t.rec.program.ops[k], point) {
            op.record_outside_passes(&mut encoder, look);
        }
    }
    dual.point.record(&mut encoder, t.rec.vector(point));
    gpu.checked("the dual worker's point", || gpu.submit(encoder.finish()))
}

/// (2) The other operations before the pair, and the main pass.
async fn submit_main(t: &mut Trainer, gpu: &Gpu, parts: &Parts, look: bool) -> Result<()> {
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    for (k, op) in t.rec.ops[..parts.pair_at].iter().enumerate() {
        if !t.rec.program.writes(&t.rec.program.ops[k], parts.point) {
            op.record_outside_passes(&mut encoder, look);
        }
    }
    let p = plan(&t.rec, parts.main, parts.main_size);
    match &mut t.shard {
        // Data-parallel pairs: with --sync-bn, BatchNorm's sums combined with the other mains'.
        Some(shard) => shard.record_gradient(gpu, p, &mut encoder).await?,
        None => Evaluator::record_gradient(p, &mut encoder),
    }
    gpu.checked("the main pass", || gpu.submit(encoder.finish()))?;
    Ok(())
}

/// (3) The worker's gradient into its vector (or, if the worker failed, the pass computed
/// here and the schedule handed over to `interleaved`), the operations after the pair, and
/// the point's copy when the update wrote it, for the driver to submit; the reported metrics
/// and the worker's batch statistics when its reply carries them.
fn record_update(
    t: &mut Trainer,
    gpu: &Gpu,
    parts: &Parts,
    look: bool,
    answer: Result<Reply>,
) -> Result<Recording> {
    let mut r = Recording::new(gpu);
    let encoder = &mut r.encoder;
    let (metrics, mut remote_state) = match answer {
        Ok(reply) => {
            // Ordered after the submissions above, which read the old gradient.
            gpu.write(t.rec.vector(parts.grad), 0, &reply.grad)?;
            (Some(reply.metrics), Some(reply.state))
        }
        Err(e) => {
            worker_failed(t, gpu, e)?;
            let plan = t.rec.evaluators[parts.remote].load(gpu, &parts.remote_batch)?;
            Evaluator::record_gradient(plan, encoder);
            (None, None)
        }
    };
    for op in &t.rec.ops[parts.pair_at + 1..] {
        op.record_outside_passes(encoder, look);
    }
    // The passes computed here leave their batch statistics in their plans; the worker's
    // come with its reply.
    if let Some(ns) = &t.norm_stats {
        for (slot, &i) in ns.passes.iter().enumerate() {
            if i == parts.remote && metrics.is_some() {
                r.remote.extend(remote_state.take().map(|s| (slot, s)));
                continue;
            }
            let p = plan(&t.rec, i, parts.size(i));
            ns.record((encoder, t.readback()), slot, p, 0);
        }
        r.sizes = t.norm_sizes(|i| parts.size(i));
    }
    let reported = t.rec.reported;
    r.known = metrics.filter(|_| reported == parts.remote);
    if r.known.is_none() {
        let metrics = &plan(&t.rec, reported, parts.size(reported)).metrics;
        t.readback().record_part(encoder, metrics, 0, 2, 0);
    }
    r.stages_point = metrics.is_some() && t.rec.speculative.is_some();
    if r.stages_point {
        let Placed::Dual(dual) = &t.placed else {
            unreachable!("still dual")
        };
        dual.point.record(encoder, t.rec.vector(parts.point));
    }
    Ok(r)
}

/// After the worker failed with `e`: the error again when the run cannot go on without it,
/// else a warning, and the trainer's pair on this device from now on (`interleaved`); the
/// caller then computes the worker's pass here.
pub(crate) fn worker_failed(t: &mut Trainer, gpu: &Gpu, e: crate::Error) -> Result<()> {
    if !matches!(&t.placed, Placed::Dual(d) if d.transport.continues_alone()) {
        return Err(e);
    }
    crate::errln!(
        "warning: the dual schedule's worker failed at step {} ({e}); continuing on {} alone \
         with the interleaved schedule",
        t.steps + 1,
        gpu.adapter.short()
    );
    t.placed = Placed::Interleaved;
    Ok(())
}
