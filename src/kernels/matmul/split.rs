//! Split-k for the storage-buffer products: a product whose output grid has too few
//! workgroups to fill a GPU and whose sum over k is long (a convolution's weight gradient:
//! m = cout, n = cin·k·k, k = N·H·W) is summed in slices of k by many workgroups at once, each
//! writing its partial C into a scratch buffer, then `storage/reduce.wgsl` adds the slices in
//! slice order and applies the epilogue. The order is fixed, so the result is the same bits
//! run to run; it differs from the unsplit sum's bits by rounding (the tests compare both with
//! the f64 reference). This module decides the split; `tiled.rs` launches it.

use super::shape::Dims;

/// Elements of k one launch sums on a CPU adapter (a multiple of every tile's BK): a longer
/// product runs as chunks that accumulate into C, or as slices no longer than this. llvmpipe
/// stops a shader's loops after 65535 iterations in all (measured: a 7×9 product with k = 65573
/// lost the rest of its sums silently, and with 8-deep slices k = 33000 did, counting the slice
/// loads), so a chunk keeps every tile's loops well below that. GPUs have no such limit and sum
/// an unsplit product's whole k in one launch.
pub const CHUNK: usize = 8192;

/// Workgroups a product should have at least: two per multiprocessor of a large GPU (an
/// H200 has 132), with room for smaller tiles' larger grids.
pub const TARGET_GROUPS: usize = 512;

/// The shortest slice of k worth a workgroup: eight 16-deep steps of a tile. Shorter ones
/// spend more on writing and adding partial sums than they save; this one still lets a
/// 64-channel 3×3 convolution's forward product (k = 576, a 64×64 tile's grid of 128 at
/// ResNet-20's last stage) split four ways.
const MIN_SLICE: usize = 128;

/// The most partial sums one product keeps (16 MiB of scratch).
const MAX_PARTIALS: usize = 1 << 22;

/// How a product is split: `count` slices of `len` elements of k, the last `last` long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Slices per replica.
    pub count: usize,
    /// Elements of k per slice (a multiple of 16, every tile's BK).
    pub len: usize,
    /// Elements of k in the last slice (1..=len).
    pub last: usize,
}

/// The split of an m×n×k product whose unsplit dispatch has `groups` workgroups over its
/// `replicas`, or `None` when it runs unsplit. On CPU adapters every slice stays within
/// [`CHUNK`] (their shader loop limit).
pub fn plan(Dims { m, n, k }: Dims, (groups, replicas): (usize, usize), cpu: bool) -> Option<Plan> {
    let groups = groups.max(1);
    if groups >= TARGET_GROUPS {
        return None;
    }
    // The most slices the scratch may hold.
    let fit = MAX_PARTIALS / (m * n * replicas).max(1);
    let mut count = TARGET_GROUPS.div_ceil(groups).min(k / MIN_SLICE);
    if count < 2 {
        return None;
    }
    if cpu {
        count = count.max(k.div_ceil(CHUNK));
        if count > fit {
            return None;
        }
    }
    let count = count.min(fit);
    if count < 2 {
        return None;
    }
    let len = k.div_ceil(count).next_multiple_of(16);
    let count = k.div_ceil(len);
    (count >= 2).then(|| Plan {
        count,
        len,
        last: k - (count - 1) * len,
    })
}
