//! The errors that stop a run part-way, each saying what was kept and how to go on: a device
//! or peer that failed, and parameters that diverged; and, in test builds, a device lost on
//! request.

use super::peers::Part;
use super::run_dir::RunDir;
use crate::error::Error;
use crate::gpu::Gpu;

/// A GPU error in the middle of a run (the device lost, reset or out of memory) as an error
/// that names the last checkpoint and the command that continues from it.
pub(super) fn device_failed(
    e: Error,
    (gpu, dir): (&Gpu, &RunDir),
    checkpointed: Option<usize>,
    part: &Part,
) -> Error {
    let what = match &e {
        Error::Gpu { .. } => format!("{} stopped working ({e})", gpu.adapter.short()),
        Error::Peer { .. } => format!("another rank of the run failed ({e})"),
        _ => return e,
    };
    let next = match checkpointed {
        Some(step) => format!(
            "The last checkpoint, {} (step {step}), is intact: continue with `{} --resume {}` \
             (with --adapter to choose another adapter)",
            dir.checkpoint().display(),
            part.resume_command,
            dir.path().display()
        ),
        None => "No checkpoint had been written yet: start the run again".to_string(),
    };
    Error::Invalid(format!("{what}. {next}"))
}

/// The error of a run in which `what` diverged at `step` of `epoch`; `epoch_done` says whether
/// an epoch had finished (and written the model file).
pub(super) fn diverged(
    what: &str,
    (step, epoch): (usize, usize),
    epoch_done: bool,
    dir: &RunDir,
) -> Error {
    let kept = if !epoch_done {
        "No epoch had finished, so no model was written".to_string()
    } else {
        format!("{} holds the last good parameters", dir.model().display())
    };
    Error::Invalid(format!(
        "{what} at step {step} (epoch {}); stopped. {kept}; try a smaller --lr",
        epoch + 1
    ))
}

/// The step after which the device is destroyed, for the device-loss test
/// (`SAMPA_TEST_LOSE_DEVICE_AFTER=N`): a real loss of the device, as when a GPU resets or is
/// unplugged, at a step the test chooses. Only in builds with the `fault-injection` feature
/// (the tests'): others never lose their device on request.
#[cfg(feature = "fault-injection")]
pub(super) fn device_loss_at() -> Option<usize> {
    std::env::var("SAMPA_TEST_LOSE_DEVICE_AFTER")
        .ok()?
        .parse()
        .ok()
}

#[cfg(not(feature = "fault-injection"))]
pub(super) fn device_loss_at() -> Option<usize> {
    None
}
