//! The end of an MPI job that a rank did not choose. When one rank dies, mpirun sends every
//! other rank SIGTERM and, about a second later, SIGKILL (Open MPI 4.1, measured here: the
//! survivor had 1 s). A rank waiting on MPI would never learn why, so a thread waits for the
//! signal, prints the rank's last words (rank 0's name its last checkpoint and the command that
//! resumes the run) at once, and exits non-zero. Checkpoints are written to a temporary file
//! and renamed, so one cut short by the exit leaves the previous one whole.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static ENDING: AtomicBool = AtomicBool::new(false);
static LAST_WORDS: Mutex<Option<Box<dyn Fn() -> String + Send>>> = Mutex::new(None);

/// Whether mpirun has asked this rank to end (waits in `super::link` stop on it).
pub fn ending() -> bool {
    ENDING.load(Ordering::Relaxed)
}

/// Watch for SIGTERM and SIGINT; on either, print what `last_words` says and exit with 143.
pub fn watch(last_words: impl Fn() -> String + Send + 'static) {
    *LAST_WORDS.lock().expect("not poisoned") = Some(Box::new(last_words));
    let started = std::thread::Builder::new()
        .name("sampa-mpi-signals".into())
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build();
            let Ok(runtime) = runtime else { return };
            runtime.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) else {
                    return;
                };
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            });
            ENDING.store(true, Ordering::Relaxed);
            if let Some(words) = LAST_WORDS.lock().ok().as_deref().and_then(|w| w.as_ref()) {
                crate::errln!("{}", words());
            }
            std::process::exit(143);
        });
    if let Err(e) = started {
        crate::errln!(
            "warning: cannot watch for mpirun's signals ({e}); a failed rank may end this one without a message"
        );
    }
}
