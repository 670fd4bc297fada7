//! SAMPa with m-sharpness: each group's g_y, kept from one step to the next
//! (`grouped_pair.rs` runs the step, and a checkpoint stores them after the program's carried
//! vectors).

use crate::data::Batch;
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};
use crate::kernels::{Dispatch, vector};

/// Each group's g_y, kept from step to step, with its copies to and from the program's
/// `GyGroup`; and the step's groups of the previous and the current batch.
#[derive(Default)]
pub(crate) struct Kept {
    /// Group s's g_y.
    pub gradients: Vec<GpuBuf<f32>>,
    /// Per group: kept → `GyGroup`, and `GyGroup` → kept.
    pub copies: Vec<[Dispatch; 2]>,
    /// The step's previous batch in groups, and its current one (reused from step to step).
    pub previous: Vec<Batch>,
    pub current: Vec<Batch>,
}

impl Kept {
    /// Keep `values` (each group's g_y, as a checkpoint holds them) on `gpu`, for a program
    /// whose `GyGroup` is `group`; any other group's g_y is zero again.
    pub fn restore(&mut self, gpu: &Gpu, group: &GpuBuf<f32>, values: &[Vec<f32>]) -> Result<()> {
        self.grow(gpu, group, values.len())?;
        let zeros = vec![0.0; group.len];
        let values = values.iter().chain(std::iter::repeat(&zeros));
        for (g, v) in self.gradients.iter().zip(values) {
            gpu.write(g, 0, v)?;
        }
        Ok(())
    }

    /// Room for at least `count` groups' g_y (zero until a step writes it).
    pub fn grow(&mut self, gpu: &Gpu, group: &GpuBuf<f32>, count: usize) -> Result<()> {
        while self.gradients.len() < count {
            let g = gpu.zeros_rows(group.len, "a group's g_y")?;
            self.copies.push([
                vector::prepare_copy(gpu, g.view(), group.view())?,
                vector::prepare_copy(gpu, group.view(), g.view())?,
            ]);
            self.gradients.push(g);
        }
        Ok(())
    }
}
