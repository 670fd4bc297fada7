//! ESAM's choice of examples mid-step (`optim::program::Op::Select`; the rule is
//! `optim::esam::choose`, the reference's own). The step's commands so far (the pass at x,
//! which leaves each example's loss in its plan, and the perturbation) are followed by a
//! loss-only pass at x̃ on the whole batch in training mode, through the evaluator of the pass
//! that takes the chosen examples; both sets of losses are copied out and the commands are
//! submitted. The host waits for them, chooses, gathers the chosen examples into a batch of
//! their own and loads it into that evaluator, whose gradient pass the step records next. The
//! wait costs the pipelining of the step, as AE-SAM's does.

use super::flight::Recording;
use super::recorder::SelectOp;
use super::trainer::Trainer;
use crate::data::Batch;
use crate::error::Result;
use crate::gpu::{Gpu, Readback};
use crate::optim::esam;

/// Choose the examples of `batch` for `op`'s pass (see above), submitting `r`'s commands.
pub(crate) async fn select(
    t: &mut Trainer,
    gpu: &Gpu,
    batch: &Batch,
    op: SelectOp,
    r: &mut Recording,
) -> Result<()> {
    let n = batch.len();
    if t.selection.as_ref().is_none_or(|b| b.capacity() < 2 * n) {
        t.selection = Some(Readback::new(gpu, 2 * n));
    }
    let readback = t.selection.as_ref().expect("made above");
    let before = &t.rec.evaluators[op.from]
        .loaded(n)
        .expect("the baseline pass ran on the whole batch")
        .row_losses;
    readback.record_part(&mut r.encoder, before, 0, n, 0);
    let plan = t.rec.evaluators[op.pass].load(gpu, batch)?;
    plan.record_training_loss(&mut r.encoder);
    readback.record_part(&mut r.encoder, &plan.row_losses, 0, n, n);
    let index = r.submit_so_far(gpu, "ESAM's per-example losses")?;
    let losses = readback.read_after(index).await?;
    let wide = |v: &[f32]| v.iter().map(|&l| l as f64).collect::<Vec<f64>>();
    let chosen = esam::choose(op.keep, &wide(&losses[..n]), &wide(&losses[n..2 * n]));
    esam::gather(batch, &chosen, &mut t.selected);
    t.rec.evaluators[op.pass].load(gpu, &t.selected)?;
    Ok(())
}
