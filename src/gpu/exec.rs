//! The native side of the async core: the only place that blocks on the device.
//!
//! Everything in the core that waits for the GPU (a readback, a training step) is a future. In
//! the browser the event loop drives it. Natively a mapping callback fires only from
//! `device.poll`, so an executor that merely parks the thread (pollster) would wait forever.
//! [`Gpu::block_on`] therefore polls the future, and when it is pending waits on the device
//! for exactly the submission the future said it awaits (a readback records that,
//! per thread): waiting for that one submission, rather than for everything, lets the dual
//! schedule read y back while the main device goes on computing g_p.

use super::awaited::{AWAITED, Awaited};
use super::device::Gpu;
use crate::error::{Error, Result};
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Woken by a future's waker.
#[derive(Default)]
struct Signal {
    woken: Mutex<bool>,
    changed: Condvar,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        *self.woken.lock().expect("signal") = true;
        self.changed.notify_one();
    }
}

impl Signal {
    /// Wait until woken, or at most `limit`; clears the wake-up.
    fn wait(&self, limit: Duration) {
        let mut woken = self.woken.lock().expect("signal");
        if !*woken {
            woken = self.changed.wait_timeout(woken, limit).expect("signal").0;
        }
        *woken = false;
    }
}

impl Gpu {
    /// Run `future` to completion on this thread, letting the device make progress.
    pub fn block_on<T>(&self, future: impl Future<Output = Result<T>>) -> Result<T> {
        let signal = Arc::new(Signal::default());
        let waker = Waker::from(signal.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                return value;
            }
            let awaited = AWAITED.with(|a| a.borrow_mut().take());
            match awaited {
                // The mapping callback fires inside this poll and wakes the future.
                Some(Awaited::Index(index)) => self.wait(Some(index))?,
                Some(Awaited::Behind(index)) => self.poll_until(Some(index), false)?,
                Some(Awaited::All) => self.wait(None)?,
                // Nothing on the device was named: let it finish what it has, then give
                // whatever else the future waits for a moment to wake it.
                None => {
                    self.wait(None)?;
                    signal.wait(Duration::from_millis(1));
                }
            }
        }
    }

    /// Block until `submission` (or everything submitted) has finished.
    pub fn wait(&self, submission: Option<wgpu::SubmissionIndex>) -> Result<()> {
        self.poll_until(submission, true)
    }

    /// [`Gpu::wait`]; `blocking` says whether the device may run dry meanwhile (false when
    /// later work is known to be queued behind `submission`).
    fn poll_until(&self, submission: Option<wgpu::SubmissionIndex>, blocking: bool) -> Result<()> {
        // Every host wait for the device passes here (a future's mapping or idle wait too,
        // through block_on), so this is where the counters see them.
        super::counters::waited(blocking);
        let poll = match submission {
            Some(index) => wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            },
            None => wgpu::PollType::wait_indefinitely(),
        };
        self.device.poll(poll).map(|_| ()).map_err(|e| Error::Gpu {
            context: "waiting for the device".to_string(),
            message: e.to_string(),
        })
    }
}
