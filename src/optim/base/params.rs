//! What the base steps read of the parameters on a device, in one argument.

use crate::gpu::GpuBuf;
use crate::kernels::View;

/// What a base step or look-ahead reads of the parameters on a device: x, the base's state
/// (the vectors of [`super::state`], in order) and weight decay's mask, if the run has one.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a, 'b> {
    /// The parameters.
    pub x: View<'a>,
    /// The base's state.
    pub state: &'b [View<'a>],
    /// Weight decay's mask ([`crate::kernels::decay::DecayMask::upload`]); without one every
    /// parameter decays.
    pub decay: Option<&'a GpuBuf<u32>>,
}
