//! What the host asks of the device, counted: kernel launches recorded, submissions, host waits
//! for the device, and bytes read back. Relaxed atomic adds, so counting costs nothing a
//! benchmark can see; `sampa bench step --json` reports them per training step, which shows a
//! step's structure (how many launches, how many times the host stops for the device) on any
//! adapter, a CPU rasteriser included.
//!
//! A census (the workgroups and FLOPs of every launch recorded) is kept only while one is
//! open ([`census`]); it answers which launches carry a step's arithmetic and how many
//! workgroups each has to spread it over.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

static DISPATCHES: AtomicU64 = AtomicU64::new(0);
static SUBMISSIONS: AtomicU64 = AtomicU64::new(0);
static WAITS: AtomicU64 = AtomicU64::new(0);
static BLOCKING_WAITS: AtomicU64 = AtomicU64::new(0);
static READBACK: AtomicU64 = AtomicU64::new(0);
static CENSUS_OPEN: AtomicBool = AtomicBool::new(false);
static CENSUS: Mutex<Vec<Launch>> = Mutex::new(Vec::new());

/// The counts since the process started (subtract two to count what happened between them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Kernel launches recorded into command encoders.
    pub dispatches: u64,
    /// Queue submissions.
    pub submissions: u64,
    /// Times the host blocked on the device (for a mapped readback or for all work done;
    /// natively, where `Gpu::wait` blocks: the browser's event loop never does).
    pub waits: u64,
    /// Those of the waits that had no later work queued behind what they waited for, so the
    /// device could run dry during them (every wait but a pipelined step's readback).
    pub blocking_waits: u64,
    /// Bytes mapped and copied back to the host.
    pub readback_bytes: u64,
}

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, o: Counts) -> Counts {
        Counts {
            dispatches: self.dispatches - o.dispatches,
            submissions: self.submissions - o.submissions,
            waits: self.waits - o.waits,
            blocking_waits: self.blocking_waits - o.blocking_waits,
            readback_bytes: self.readback_bytes - o.readback_bytes,
        }
    }
}

/// The counts now.
pub fn now() -> Counts {
    Counts {
        dispatches: DISPATCHES.load(Relaxed),
        submissions: SUBMISSIONS.load(Relaxed),
        waits: WAITS.load(Relaxed),
        blocking_waits: BLOCKING_WAITS.load(Relaxed),
        readback_bytes: READBACK.load(Relaxed),
    }
}

/// One launch in a census.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Launch {
    /// Workgroups over all three axes.
    pub workgroups: u64,
    /// Floating-point operations of its arithmetic (2 per multiply-add of the products it
    /// computes; 0 for launches that only move, normalise or reduce).
    pub flops: f64,
}

/// Run `work` with a census open: every launch recorded meanwhile, on any thread.
pub fn census<T>(work: impl FnOnce() -> T) -> (T, Vec<Launch>) {
    let mut log = CENSUS.lock().unwrap_or_else(|e| e.into_inner());
    log.clear();
    drop(log);
    CENSUS_OPEN.store(true, Relaxed);
    let out = work();
    CENSUS_OPEN.store(false, Relaxed);
    let log = std::mem::take(&mut *CENSUS.lock().unwrap_or_else(|e| e.into_inner()));
    (out, log)
}

pub(crate) fn launched(groups: [u32; 3], flops: f64) {
    DISPATCHES.fetch_add(1, Relaxed);
    if CENSUS_OPEN.load(Relaxed) {
        let workgroups = groups.iter().map(|&g| g as u64).product();
        let mut log = CENSUS.lock().unwrap_or_else(|e| e.into_inner());
        log.push(Launch { workgroups, flops });
    }
}

pub(crate) fn submitted() {
    SUBMISSIONS.fetch_add(1, Relaxed);
}

// Only native code blocks (the browser's event loop never waits).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn waited(blocking: bool) {
    WAITS.fetch_add(1, Relaxed);
    if blocking {
        BLOCKING_WAITS.fetch_add(1, Relaxed);
    }
}

pub(crate) fn read_back(bytes: u64) {
    READBACK.fetch_add(bytes, Relaxed);
}
