//! A ViT encoder block as timm's `Block` writes it (pre-norm, no layer scale, no dropout):
//!
//! ```text
//! n1  = norm1(x)                     LayerNorm, eps 1e-6
//! qkv = attn.qkv(n1)                 width → 3·width, with bias
//! a   = softmax(scale·q·kᵀ)·v        per head (kernels::attention)
//! h   = x + attn.proj(a)
//! n2  = norm2(h)
//! f   = mlp.fc1(n2)                  width → 4·width
//! g   = gelu(f)                      the exact erf form
//! y   = h + mlp.fc2(g)
//! ```
//!
//! Every linear layer maps each token: a dense product over batch·tokens rows. The backward
//! runs the parts in reverse; each residual add sends its gradient both ways, added with one
//! axpy over the whole (replicated) buffer.

use super::super::pass::{LayerIo, LayerPass, RefIo};
use super::layernorm;
use super::linear::{self, Dense, Fused};
use crate::error::Result;
use crate::kernels::attention::{self, AttnShape};
use crate::kernels::conv::image::ROW_FLOATS;
use crate::kernels::{Dispatch, gelu, vector};
use crate::nn::layer::{Act, Layer};

/// The block's sizes: examples, tokens, width and heads.
fn sizes(batch: usize, input: Act, layer: Layer) -> (AttnShape, usize) {
    let Layer::VitBlock { heads, .. } = layer else {
        unreachable!("only a ViT block")
    };
    attention_sizes(batch, input, heads)
}

/// A transformer layer's attention sizes for `heads` heads over the sequence `input` (BERT's
/// too), and the rows its linears see: batch·tokens.
pub(super) fn attention_sizes(batch: usize, input: Act, heads: usize) -> (AttnShape, usize) {
    let Act::Seq(tokens, width) = input else {
        unreachable!("Model::new checks a transformer layer's input is a sequence")
    };
    let s = AttnShape {
        batch,
        tokens,
        heads,
        head_dim: width / heads,
    };
    (s, batch * tokens)
}

/// A transformer layer's linear `part` (with bias) over `rows` tokens.
pub(super) fn dense(rows: usize, part: Layer) -> Dense {
    let Layer::Linear { inp, out } = part else {
        unreachable!("a transformer layer's linear parts")
    };
    Dense {
        rows,
        inp,
        out,
        bias: true,
    }
}

pub(super) fn build(io: &LayerIo<'_>, layer: Layer) -> Result<LayerPass> {
    let (s, rows) = sizes(io.batch, io.input, layer);
    let (r, w) = (io.replicas, s.width());
    // Whole rows per replica like the plan's own activations, so a residual add can run over
    // a whole buffer against the block's input or output.
    let alloc = |len: usize, what| {
        io.gpu
            .zeros::<f32>(r * len.next_multiple_of(ROW_FLOATS), what)
    };
    let shared = |len: usize, what| io.shared_zeros(r * len.next_multiple_of(ROW_FLOATS), what);
    // Kept from the forward for the backward.
    let n1 = alloc(rows * w, "vit norm1")?;
    let qkv = alloc(rows * 3 * w, "vit qkv")?;
    let probs = alloc(s.probs_len(), "vit attention")?;
    let a = alloc(rows * w, "vit attention out")?;
    let h = alloc(rows * w, "vit residual")?;
    let n2 = alloc(rows * w, "vit norm2")?;
    let f = alloc(rows * 4 * w, "vit fc1")?;
    let g = alloc(rows * 4 * w, "vit gelu")?;
    // Gradients, which blocks of a size share.
    let dg = shared(rows * 4 * w, "vit gelu grad")?;
    let df = shared(rows * 4 * w, "vit fc1 grad")?;
    let dn2 = shared(rows * w, "vit norm2 grad")?;
    let dh = shared(rows * w, "vit residual grad")?;
    let da = shared(rows * w, "vit attention out grad")?;
    let dqkv = shared(rows * 3 * w, "vit qkv grad")?;
    let dprobs = shared(s.probs_len(), "vit attention grad")?;
    let dn1 = shared(rows * w, "vit norm1 grad")?;
    let parts = layer.vit_parts().map(|(_, l)| l);
    let spans = layer.spans();
    let seq = Act::Seq(s.tokens, w);
    let part = |k: usize, bufs| io.part(seq, bufs, spans[k].views.clone());
    let dx = io
        .dx
        .expect("a ViT block follows the token sequence, so it is never the first layer");
    let none = (Fused::default(), None);

    let norm1 = part(0, (io.x, &n1, &dn1, Some(dx)));
    let (ln1_f, ln1_b, mut scratch) = layernorm::passes(&norm1, io.x, dx, false)?;
    let (qkv_f, qkv_b) = linear::dense(
        &part(1, (&n1, &qkv, &dqkv, Some(&dn1))),
        dense(rows, parts[1]),
        (&n1, Some(&dn1)),
        none,
    )?;
    let attn_f =
        attention::prepare_forward(io.gpu, s, qkv.replicas(r), probs.replicas(r), a.replicas(r))?;
    let attn_b = attention::prepare_backward(
        io.gpu,
        s,
        (qkv.replicas(r), probs.replicas(r)),
        da.replicas(r),
        dprobs.replicas(r),
        dqkv.replicas(r),
    )?;
    let (proj_f, proj_b) = linear::dense(
        &part(2, (&a, &h, &dh, Some(&da))),
        dense(rows, parts[2]),
        (&a, Some(&da)),
        none,
    )?;
    let add_x = vector::prepare_axpy(io.gpu, 1.0, io.x.view(), h.view())?;
    let norm2 = part(3, (&h, &n2, &dn2, Some(&dh)));
    let (ln2_f, ln2_b, more) = layernorm::passes(&norm2, &h, &dh, false)?;
    scratch.extend(more);
    let (fc1_f, fc1_b) = linear::dense(
        &part(4, (&n2, &f, &df, Some(&dn2))),
        dense(rows, parts[4]),
        (&n2, Some(&dn2)),
        none,
    )?;
    let gelu_f = gelu::prepare_forward(io.gpu, rows * 4 * w, f.replicas(r), g.replicas(r))?;
    let gelu_b = gelu::prepare_backward(
        io.gpu,
        rows * 4 * w,
        dg.replicas(r),
        df.replicas(r),
        f.replicas(r),
    )?;
    let (fc2_f, fc2_b) = linear::dense(
        &part(5, (&g, io.y, io.dy, Some(&dg))),
        dense(rows, parts[5]),
        (&g, Some(&dg)),
        none,
    )?;
    let add_h = vector::prepare_axpy(io.gpu, 1.0, h.view(), io.y.view())?;
    // The residuals' gradients: dh = dy + norm2's, dx = dh + norm1's.
    let add_dy = vector::prepare_axpy(io.gpu, 1.0, io.dy.view(), dh.view())?;
    let add_dh = vector::prepare_axpy(io.gpu, 1.0, dh.view(), dx.view())?;

    let fwd = [
        ln1_f, qkv_f, attn_f, proj_f, add_x, ln2_f, fc1_f, gelu_f, fc2_f, add_h,
    ];
    let bwd = [
        fc2_b, gelu_b, fc1_b, ln2_b, add_dy, proj_b, attn_b, qkv_b, ln1_b, add_dh,
    ];
    let chain = |v: [Dispatch; 10]| v.into_iter().fold(Dispatch::empty(), Dispatch::then);
    let mut pass = LayerPass::new(chain(fwd), Some(chain(bwd)));
    scratch.extend([
        n1, qkv, probs, a, h, n2, f, g, dg, df, dn2, dh, da, dqkv, dprobs, dn1,
    ]);
    pass.scratch = scratch;
    Ok(pass)
}

/// Every intermediate of the f64 forward: n1, qkv, a, h, n2, f, g, y.
fn forward_all(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> [Vec<f64>; 8] {
    let (s, rows) = sizes(io.batch, io.input, layer);
    let parts = layer.vit_parts().map(|(_, l)| l);
    let spans = layer.spans();
    let seq = Act::Seq(s.tokens, s.width());
    let prm = |k: usize| &io.params[spans[k].params.clone()];
    let ln = |k: usize, v: &[f64]| layernorm::forward(&io.part_of(layer, k, seq), v);
    let lin = |k: usize, v: &[f64]| linear::dense_forward(dense(rows, parts[k]), prm(k), v);
    let add = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a + b).collect::<Vec<f64>>();
    let n1 = ln(0, x);
    let qkv = lin(1, &n1);
    let (_, a) = attention::reference_forward(s, &qkv);
    let h = add(x, &lin(2, &a));
    let n2 = ln(3, &h);
    let f = lin(4, &n2);
    let g = gelu::reference_forward(&f);
    let y = add(&h, &lin(5, &g));
    [n1, qkv, a, h, n2, f, g, y]
}

pub(super) fn forward(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> Vec<f64> {
    let [.., y] = forward_all(io, layer, x);
    y
}

pub(super) fn backward(
    io: &RefIo<'_>,
    layer: Layer,
    x: &[f64],
    dy: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    let (s, rows) = sizes(io.batch, io.input, layer);
    let parts = layer.vit_parts().map(|(_, l)| l);
    let spans = layer.spans();
    let seq = Act::Seq(s.tokens, s.width());
    let [n1, qkv, a, h, n2, f, g, _] = forward_all(io, layer, x);
    // Part k's input gradient from its input and output gradient, its tensors' into grads.
    let mut part = |k: usize, x: &[f64], dy: &[f64]| {
        let g = &mut grads[spans[k].params.clone()];
        match parts[k] {
            Layer::LayerNorm { .. } => layernorm::backward(&io.part_of(layer, k, seq), x, dy, g),
            l => linear::dense_backward(
                dense(rows, l),
                &io.params[spans[k].params.clone()],
                x,
                dy,
                g,
            ),
        }
    };
    let add = |a: Vec<f64>, b: &[f64]| a.iter().zip(b).map(|(a, b)| a + b).collect::<Vec<f64>>();
    let dg = part(5, &g, dy);
    let df = gelu::reference_backward(&dg, &f);
    let dn2 = part(4, &n2, &df);
    let dh = add(part(3, &h, &dn2), dy);
    let da = part(2, &a, &dh);
    let dqkv = attention::reference_backward(s, &qkv, &da);
    let dn1 = part(1, &n1, &dqkv);
    add(part(0, x, &dn1), &dh)
}
