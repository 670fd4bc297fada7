//! What the readback pending on a thread waits for, so that the native executor
//! (`Gpu::block_on`) can poll the device for exactly that submission.

/// What a pending readback waits for: one submission, or everything submitted (natively; in
/// the browser the event loop completes mappings).
#[derive(Clone, Debug)]
pub(crate) enum Awaited {
    /// Everything submitted so far.
    All,
    /// This submission.
    Index(wgpu::SubmissionIndex),
}

thread_local! {
    /// The submission the readback pending on this thread waits for: a future records it
    /// before it awaits a mapping, and the thread's executor (`Gpu::block_on`) polls the device
    /// for it. Per thread, because each thread drives its own futures.
    pub(crate) static AWAITED: std::cell::RefCell<Option<Awaited>> =
        const { std::cell::RefCell::new(None) };
}
