//! Printing that cannot crash a run. `println!` and `eprintln!` panic when their stream is a
//! pipe whose reader has gone (`sampa train ... | head -1`): a training run would die with a
//! panic and leave a run directory without a checkpoint. Everything sampa prints natively goes
//! through [`outln!`](crate::outln) and [`errln!`](crate::errln) instead. The first failed write
//! to a stream closes it for the rest of the process, and the work goes on: a run keeps
//! training, keeps writing its run directory (`metrics.jsonl`, checkpoints, the model) and
//! exits as it would have, so what it printed can still be read there.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Write `args` to `stream`, unless an earlier write to it failed; a failure now closes it.
fn write(stream: &mut dyn Write, closed: &AtomicBool, args: std::fmt::Arguments<'_>) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    if stream
        .write_fmt(args)
        .and_then(|()| stream.flush())
        .is_err()
    {
        closed.store(true, Ordering::Relaxed);
    }
}

/// Standard output, as [`outln!`](crate::outln) writes it.
pub fn out(args: std::fmt::Arguments<'_>) {
    write(&mut std::io::stdout().lock(), &STDOUT_CLOSED, args);
}

/// Standard error, as [`errln!`](crate::errln) writes it.
pub fn err(args: std::fmt::Arguments<'_>) {
    write(&mut std::io::stderr().lock(), &STDERR_CLOSED, args);
}

/// Whether a write to standard output has failed (its reader went away).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// `println!` that never panics (see [`crate::console`]).
#[macro_export]
macro_rules! outln {
    () => { $crate::console::out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that never panics (see [`crate::console`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::console::out(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics (see [`crate::console`]).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::console::err(format_args!("{}\n", format_args!($($arg)*))) };
}
