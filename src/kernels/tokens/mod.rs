//! A ViT's token sequence (`tokens.wgsl`): the class token and position embeddings around the
//! patch embeddings, and the class token's readout before the head, with their backwards.
//! Sequences are `[N, T, W]` with token 0 the class token; the patch embeddings are the patch
//! convolution's pixel-major output `[N, T − 1, W]`.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/tokens/tokens.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TokParams {
    n: u32,
    t: u32,
    w: u32,
    prm: u32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    vec![uniform_layout!("tokens", SRC, "Params", TokParams { n, t, w, prm }).replicated()]
}

/// `batch` sequences of `tokens` tokens (the class token included) of `width` features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokShape {
    /// Examples.
    pub batch: usize,
    /// Tokens per example, the class token included.
    pub tokens: usize,
    /// Features per token.
    pub width: usize,
}

impl TokShape {
    /// Elements of the sequences.
    pub fn seq_len(self) -> usize {
        self.batch * self.tokens * self.width
    }

    /// Elements of the patch embeddings (the sequences without their class tokens).
    pub fn patches_len(self) -> usize {
        self.batch * (self.tokens - 1) * self.width
    }

    /// Elements of `cls_token` and `pos_embed` together.
    pub fn params_len(self) -> usize {
        (1 + self.tokens) * self.width
    }
}

/// Bindings 1..=4 (source, destination, parameters, gradients) of one launch, `count`
/// invocations.
fn launch(
    gpu: &Gpu,
    (op, s): (&'static str, TokShape),
    ops: [Option<View<'_>>; 4],
    count: usize,
) -> Result<Dispatch> {
    if s.batch == 0 || s.tokens < 2 || s.width == 0 {
        return Err(Error::shape(
            op,
            format!("need examples, a class token and patches, and features: {s:?}"),
        ));
    }
    let present: Vec<_> = ops.iter().flatten().collect();
    let replicas = present.first().map_or(1, |v| v.replicas);
    let reps: Vec<_> = ops
        .iter()
        .map(|v| v.map_or((replicas, 0), |v| v.rep()))
        .collect();
    let at = |i: usize| ops[i].map_or(0, |v| v.offset);
    if at(0) != 0 || at(1) != 0 || (ops[2].is_some() && ops[3].is_some() && at(2) != at(3)) {
        return Err(Error::shape(
            op,
            "activations must be whole buffers, parameters and gradients at one offset",
        ));
    }
    let p = TokParams {
        n: as_u32(op, "n", s.batch)?,
        t: as_u32(op, "t", s.tokens)?,
        w: as_u32(op, "w", s.width)?,
        prm: as_u32(op, "offset", at(2).max(at(3)))?,
    };
    let bindings: Vec<_> = ops
        .iter()
        .map(|v| v.map_or(Bind::Unused, |v| Bind::Buf(&v.buf.buffer)))
        .collect();
    build(
        gpu,
        Launch {
            label: "tokens",
            source: SRC,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(op, &reps)?),
            bindings: &bindings,
            groups: grid_1d(gpu, as_u32(op, "groups", count.div_ceil(256))?),
        },
    )
}

/// Prepare the sequences `y` from the patch embeddings `x` and `cls_pos` (`cls_token` then
/// `pos_embed`, [`TokShape::params_len`] values from the view's offset).
pub fn prepare_forward(
    gpu: &Gpu,
    s: TokShape,
    x: View<'_>,
    y: View<'_>,
    cls_pos: View<'_>,
) -> Result<Dispatch> {
    const OP: &str = "tokens_forward";
    x.expect_len(OP, "x", s.patches_len())?;
    y.expect_len(OP, "y", s.seq_len())?;
    cls_pos.expect_len(OP, "cls_token and pos_embed", s.params_len())?;
    launch(
        gpu,
        (OP, s),
        [Some(x), Some(y), Some(cls_pos), None],
        s.seq_len(),
    )
}

/// Prepare the backward from `dy`: the patch embeddings' gradient into `dx` (when the patch
/// convolution needs it; as the first layer it does not take one), and the class token's and
/// position embeddings' into `grads` (laid out as the forward's `cls_pos`).
pub fn prepare_backward(
    gpu: &Gpu,
    s: TokShape,
    dy: View<'_>,
    dx: Option<View<'_>>,
    grads: View<'_>,
) -> Result<Dispatch> {
    const OP: &str = "tokens_backward";
    dy.expect_len(OP, "dy", s.seq_len())?;
    grads.expect_len(OP, "dcls_token and dpos_embed", s.params_len())?;
    let prm = launch(
        gpu,
        ("tokens_backward_prm", s),
        [Some(dy), None, None, Some(grads)],
        s.tokens * s.width,
    )?;
    let Some(dx) = dx else { return Ok(prm) };
    dx.expect_len(OP, "dx", s.patches_len())?;
    let input = launch(
        gpu,
        ("tokens_backward_dx", s),
        [Some(dy), Some(dx), None, None],
        s.patches_len(),
    )?;
    Ok(prm.then(input))
}

/// Prepare `y` = each sequence's class token.
pub fn prepare_pool_forward(gpu: &Gpu, s: TokShape, x: View<'_>, y: View<'_>) -> Result<Dispatch> {
    const OP: &str = "class_pool_forward";
    x.expect_len(OP, "x", s.seq_len())?;
    y.expect_len(OP, "y", s.batch * s.width)?;
    launch(
        gpu,
        (OP, s),
        [Some(x), Some(y), None, None],
        s.batch * s.width,
    )
}

/// Prepare `dx`: `dy` at each class token, zero elsewhere.
pub fn prepare_pool_backward(
    gpu: &Gpu,
    s: TokShape,
    dy: View<'_>,
    dx: View<'_>,
) -> Result<Dispatch> {
    const OP: &str = "class_pool_backward";
    dy.expect_len(OP, "dy", s.batch * s.width)?;
    dx.expect_len(OP, "dx", s.seq_len())?;
    launch(gpu, (OP, s), [Some(dy), Some(dx), None, None], s.seq_len())
}

/// f64 reference of [`prepare_forward`].
pub fn reference_forward(s: TokShape, x: &[f64], cls_pos: &[f64]) -> Vec<f64> {
    let (t, w) = (s.tokens, s.width);
    let (cls, pos) = cls_pos.split_at(w);
    let mut y = Vec::with_capacity(s.seq_len());
    for n in 0..s.batch {
        y.extend((0..w).map(|c| cls[c] + pos[c]));
        let patches = &x[n * (t - 1) * w..][..(t - 1) * w];
        y.extend(patches.iter().zip(&pos[w..]).map(|(a, b)| a + b));
    }
    y
}

/// f64 reference of [`prepare_backward`]: (dx, dcls then dpos).
pub fn reference_backward(s: TokShape, dy: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (t, w) = (s.tokens, s.width);
    let mut dx = Vec::with_capacity(s.patches_len());
    let mut dpos = vec![0.0; t * w];
    for seq in dy.chunks(t * w).take(s.batch) {
        dx.extend_from_slice(&seq[w..]);
        for (d, v) in dpos.iter_mut().zip(seq) {
            *d += v;
        }
    }
    let grads = [&dpos[..w], &dpos[..]].concat();
    (dx, grads)
}

/// f64 reference of [`prepare_pool_forward`].
pub fn reference_pool_forward(s: TokShape, x: &[f64]) -> Vec<f64> {
    let (t, w) = (s.tokens, s.width);
    (0..s.batch)
        .flat_map(|n| x[n * t * w..][..w].to_vec())
        .collect()
}

/// f64 reference of [`prepare_pool_backward`].
pub fn reference_pool_backward(s: TokShape, dy: &[f64]) -> Vec<f64> {
    let (t, w) = (s.tokens, s.width);
    let mut dx = vec![0.0; s.seq_len()];
    for n in 0..s.batch {
        dx[n * t * w..][..w].copy_from_slice(&dy[n * w..][..w]);
    }
    dx
}
