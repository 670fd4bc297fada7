//! The `dual` schedule's state on the main device (its step is `train/dual_step.rs`): the
//! second pass of the program's pair on a worker behind a
//! [`Transport`], the rest on the main device, which keeps all optimizer state.
//!
//! Three submissions. (1) The operations that write the worker's point (SAMPa's look-ahead),
//! then a copy of the point into a staging buffer; when the last update already wrote the
//! point and staged it (the recorder's look-ahead rewrite), nothing. (2) The other operations
//! before the pair, and the main pass: submitted before the host waits for the point, so the
//! main device never idles while the point travels. The host reads the point, sends it with
//! the batch, and waits for the gradient, which is written into the pass's vector (ordered
//! after the submissions above, which read the old one). (3) The operations after the pair
//! (the update), and a copy of the point if the update wrote it. If the worker fails, its pass
//! is computed here, a warning is printed, and the run goes on `interleaved`.

use super::transport::Transport;
use crate::gpu::{Gpu, Readback};

/// The worker's transport and the main device's staging of the point it is sent.
pub(crate) struct Dual {
    pub transport: Box<dyn Transport>,
    /// The staging buffer the point goes out through.
    pub point: Readback,
    /// The update that last staged the point, when it did.
    pub staged: Option<wgpu::SubmissionIndex>,
}

impl Dual {
    pub fn new(gpu: &Gpu, transport: Box<dyn Transport>, n: usize) -> Dual {
        Dual {
            transport,
            point: Readback::new(gpu, n),
            staged: None,
        }
    }

    /// The worker, for messages.
    pub fn worker(&self) -> String {
        self.transport.name()
    }

    /// After a restore, the staged point is stale.
    pub fn forget_staged(&mut self) {
        self.staged = None;
    }
}
