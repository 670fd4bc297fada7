//! BERT's embeddings before their LayerNorm (`embedding.wgsl`): word, position and token-type
//! embeddings looked up and summed per token, and the backward into the three tables.
//!
//! The input is the text batch: per example `3·T` values, the token ids, the token types and
//! the attention mask, integers stored as f32 (see [`TextShape`]). The output is the sequence
//! `[N, T, W]`. The tables lie side by side in the parameter vector, word `[V, W]`, position
//! `[P, W]`, token type `[K, W]`, Hugging Face's `state_dict` order.

// GPU tests block on the device, so they run natively.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use super::dispatch::Dispatch;
use super::launch::{Bind, Launch, Params, Replicas, as_u32, build, grid_1d};
use super::layout::{UniformLayout, uniform_layout};
use super::view::View;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

const SRC: &str = crate::wgsl!("kernels/embedding/embedding.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct EmbParams {
    n: u32,
    t: u32,
    w: u32,
    prm: u32,
    vocab: u32,
    positions: u32,
    types: u32,
    _pad: u32,
}

/// The uniform layout, for the layout test.
pub(crate) fn uniform_layouts() -> Vec<UniformLayout> {
    let layout = uniform_layout!(
        "embedding",
        SRC,
        "Params",
        EmbParams {
            n,
            t,
            w,
            prm,
            vocab,
            positions,
            types,
            _pad
        }
    );
    vec![layout.replicated()]
}

/// The sizes of the embeddings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextShape {
    /// Examples.
    pub batch: usize,
    /// Tokens per example (at most `positions`).
    pub tokens: usize,
    /// Features per token.
    pub width: usize,
    /// Rows of the word table.
    pub vocab: usize,
    /// Rows of the position table (Hugging Face's `max_position_embeddings`).
    pub positions: usize,
    /// Rows of the token-type table (`type_vocab_size`, 2 for BERT).
    pub types: usize,
}

impl TextShape {
    /// Values of the text batch: ids, types and mask of every token.
    pub fn input_len(self) -> usize {
        self.batch * 3 * self.tokens
    }

    /// Elements of the sequences.
    pub fn seq_len(self) -> usize {
        self.batch * self.tokens * self.width
    }

    /// Elements of the three tables together.
    pub fn params_len(self) -> usize {
        (self.vocab + self.positions + self.types) * self.width
    }

    fn check(self, op: &'static str) -> Result<()> {
        let positive = [self.batch, self.tokens, self.width, self.vocab, self.types];
        if positive.contains(&0) || self.tokens > self.positions {
            return Err(Error::shape(
                op,
                format!("need positive sizes and at most `positions` tokens: {self:?}"),
            ));
        }
        // Ids travel as f32, exact below 2^24.
        if self.vocab.max(self.types) > 1 << 24 {
            return Err(Error::shape(
                op,
                format!("ids past 2^24 do not survive f32: {self:?}"),
            ));
        }
        Ok(())
    }
}

/// One launch over bindings 1..=4 (text batch, sequence or its gradient, parameters,
/// gradients), `groups` workgroups.
fn launch(
    gpu: &Gpu,
    (op, s): (&'static str, TextShape),
    ops: [Option<View<'_>>; 4],
    groups: usize,
) -> Result<Dispatch> {
    s.check(op)?;
    let present: Vec<_> = ops.iter().flatten().collect();
    let replicas = present.first().map_or(1, |v| v.replicas);
    let reps: Vec<_> = ops
        .iter()
        .map(|v| v.map_or((replicas, 0), |v| v.rep()))
        .collect();
    let at = |i: usize| ops[i].map_or(0, |v| v.offset);
    if at(0) != 0 || at(1) != 0 {
        return Err(Error::shape(
            op,
            "the text batch and the sequences must be whole buffers",
        ));
    }
    let p = EmbParams {
        n: as_u32(op, "examples", s.batch)?,
        t: as_u32(op, "tokens", s.tokens)?,
        w: as_u32(op, "width", s.width)?,
        prm: as_u32(op, "offset", at(2).max(at(3)))?,
        vocab: as_u32(op, "vocab", s.vocab)?,
        positions: as_u32(op, "positions", s.positions)?,
        types: as_u32(op, "types", s.types)?,
        _pad: 0,
    };
    let bindings: Vec<_> = ops
        .iter()
        .map(|v| v.map_or(Bind::Unused, |v| Bind::Buf(&v.buf.buffer)))
        .collect();
    build(
        gpu,
        Launch {
            label: "embedding",
            source: SRC,
            entry: op,
            constants: &[],
            params: Params::Bytes(bytemuck::bytes_of(&p)),
            replicas: Some(Replicas::of(op, &reps)?),
            bindings: &bindings,
            groups: grid_1d(gpu, as_u32(op, "groups", groups)?),
        },
    )
}

/// Prepare the sequences `y` from the text batch `x` and the three `tables` (word, position,
/// token type, [`TextShape::params_len`] values from the view's offset).
pub fn prepare_forward(
    gpu: &Gpu,
    s: TextShape,
    x: View<'_>,
    y: View<'_>,
    tables: View<'_>,
) -> Result<Dispatch> {
    const OP: &str = "embedding_forward";
    s.check(OP)?;
    x.expect_len(OP, "text batch", s.input_len())?;
    y.expect_len(OP, "y", s.seq_len())?;
    tables.expect_len(OP, "the embedding tables", s.params_len())?;
    let groups = s.seq_len().div_ceil(256);
    launch(gpu, (OP, s), [Some(x), Some(y), Some(tables), None], groups)
}

/// Prepare the tables' gradients from `dy`, written into `grads` (laid out as the forward's
/// `tables`), every row a token did not use set to zero.
pub fn prepare_backward(
    gpu: &Gpu,
    s: TextShape,
    x: View<'_>,
    dy: View<'_>,
    grads: View<'_>,
) -> Result<Dispatch> {
    const OP: &str = "embedding_backward";
    x.expect_len(OP, "text batch", s.input_len())?;
    dy.expect_len(OP, "dy", s.seq_len())?;
    grads.expect_len(OP, "the embedding tables' gradients", s.params_len())?;
    let zero = launch(
        gpu,
        ("embedding_zero", s),
        [None, None, None, Some(grads)],
        s.params_len().div_ceil(256),
    )?;
    let sums = launch(
        gpu,
        (OP, s),
        [Some(x), Some(dy), None, Some(grads)],
        s.width.div_ceil(64),
    )?;
    Ok(zero.then(sums))
}

/// Token `t` of example `n`'s word row and type row in the text batch `x`, as the shader
/// clamps them.
fn rows(s: TextShape, x: &[f64], n: usize, t: usize) -> (usize, usize) {
    let at = n * 3 * s.tokens;
    let id = (x[at + t] as usize).min(s.vocab - 1);
    let k = (x[at + s.tokens + t] as usize).min(s.types - 1);
    (id, k)
}

/// f64 reference of [`prepare_forward`].
pub fn reference_forward(s: TextShape, x: &[f64], tables: &[f64]) -> Vec<f64> {
    let w = s.width;
    let (word, rest) = tables.split_at(s.vocab * w);
    let (pos, typ) = rest.split_at(s.positions * w);
    let mut y = Vec::with_capacity(s.seq_len());
    for n in 0..s.batch {
        for t in 0..s.tokens {
            let (id, k) = rows(s, x, n, t);
            y.extend((0..w).map(|c| word[id * w + c] + pos[t * w + c] + typ[k * w + c]));
        }
    }
    y
}

/// f64 reference of [`prepare_backward`]: the tables' gradients.
pub fn reference_backward(s: TextShape, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let w = s.width;
    let mut g = vec![0.0; s.params_len()];
    let (pos, typ) = (s.vocab * w, (s.vocab + s.positions) * w);
    for n in 0..s.batch {
        for t in 0..s.tokens {
            let (id, k) = rows(s, x, n, t);
            for c in 0..w {
                let d = dy[(n * s.tokens + t) * w + c];
                g[id * w + c] += d;
                g[pos + t * w + c] += d;
                g[typ + k * w + c] += d;
            }
        }
    }
    g
}
