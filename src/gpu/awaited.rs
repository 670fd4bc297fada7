//! What the readback pending on a thread waits for, so that the native executor
//! (`Gpu::block_on`) can poll the device for exactly that submission. In the browser the
//! event loop completes mappings, and nothing is recorded.

/// What a pending readback waits for: one submission, or everything submitted (natively; in
/// the browser the event loop completes mappings).
#[derive(Clone, Debug)]
// Only the native executor reads the submissions.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) enum Awaited {
    /// Everything submitted so far.
    All,
    /// This submission.
    Index(wgpu::SubmissionIndex),
    /// This submission, with later work already queued behind it (a pipelined training
    /// step's readback, read once the next step is submitted): waiting for it leaves the
    /// device busy, so the counters do not count it as a blocking wait.
    Behind(wgpu::SubmissionIndex),
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    /// The submission the readback pending on this thread waits for: a future records it
    /// before it awaits a mapping, and the thread's executor (`Gpu::block_on`) polls the device
    /// for it. Per thread, because each thread drives its own futures.
    pub(crate) static AWAITED: std::cell::RefCell<Option<Awaited>> =
        const { std::cell::RefCell::new(None) };
}
