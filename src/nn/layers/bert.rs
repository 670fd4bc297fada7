//! BERT's embeddings and encoder layer as Hugging Face's `modeling_bert.py` writes them
//! (`BertEmbeddings`, `BertLayer`), on the GPU and in f64.
//!
//! ```text
//! embeddings:  e = word[ids] + position[t] + token_type[types]      kernels::embedding
//!              y = LayerNorm(e)                                     eps 1e-12
//! encoder:     q, k, v = query(x), key(x), value(x)                 width → width each
//!              a  = softmax(scale·q·kᵀ + mask)·v  per head          padded keys left out
//!              h  = LayerNorm(x + attention.output.dense(a))
//!              g  = gelu(intermediate.dense(h))                     width → 4·width, erf form
//!              y  = LayerNorm(h + output.dense(g))
//! ```
//!
//! The mask is the text batch's third block (`Act::Text`), which the layer reads from the
//! model's input. Every linear maps each token: a dense product over batch·tokens rows. The
//! backward runs the parts in reverse; the three projections of x add their input gradients
//! into one buffer, and each residual adds its gradient with one axpy.
//!
//! With dropout, training drops where Hugging Face's modules do (`kernels::dropout`'s masks,
//! one site each): the embeddings after their LayerNorm (site 0), the attention probabilities
//! (1), and each dense output before its residual add (2: the attention's, 3: the output's).
//! Evaluation drops nothing.

use super::super::pass::{LayerIo, LayerPass, RefIo, dropout_site};
use super::layernorm;
use super::linear::{self, Fused};
use super::vit_block::{attention_sizes, dense};
use crate::error::Result;
use crate::gpu::GpuBuf;
use crate::kernels::attention::{self, AttnDropout, AttnShape, KeyMask, Qkv};
use crate::kernels::conv::image::ROW_FLOATS;
use crate::kernels::embedding::{self, TextShape};
use crate::kernels::{Dispatch, View, dropout, gelu, vector};
use crate::nn::layer::{Act, BERT_TYPES, Layer};

/// Hugging Face's BERT builds its norms with `layer_norm_eps=1e-12`.
const BERT_EPS: f32 = 1e-12;

/// The embeddings' sizes on `batch` examples.
fn text_shape(batch: usize, input: Act, layer: Layer) -> TextShape {
    let (
        Act::Text(tokens),
        Layer::BertEmbeddings {
            vocab,
            positions,
            width,
            ..
        },
    ) = (input, layer)
    else {
        unreachable!("Model::new checks BERT's embeddings read a text batch")
    };
    TextShape {
        batch,
        tokens,
        width,
        vocab,
        positions,
        types: BERT_TYPES,
    }
}

/// The three tables, side by side in the parameter (or gradient) vector.
fn tables<'a>(v: &[View<'a>]) -> View<'a> {
    View {
        len: v[0].len + v[1].len + v[2].len,
        ..v[0]
    }
}

pub(super) fn build_embeddings(io: &LayerIo<'_>, layer: Layer) -> Result<LayerPass> {
    let s = text_shape(io.batch, io.input, layer);
    let r = io.replicas;
    let e = io.zeros(s.seq_len(), "bert embeddings sum")?;
    let de = io.shared_zeros(r * s.seq_len().next_multiple_of(4), "bert embeddings grad")?;
    let x = io.x.replicas(r);
    let emb_f = embedding::prepare_forward(io.gpu, s, x, e.replicas(r), tables(&io.params))?;
    let emb_b = embedding::prepare_backward(io.gpu, s, x, de.replicas(r), tables(&io.grads))?;
    let seq = Act::Seq(s.tokens, s.width);
    let norm = io.part(seq, (&e, io.y, io.dy, Some(&de)), 3..5);
    let (ln_f, ln_b, scratch) = layernorm::passes_eps(&norm, (&e, &de), false, BERT_EPS)?;
    let fwd = emb_f.then(ln_f);
    let Layer::BertEmbeddings { dropout: rate, .. } = layer else {
        unreachable!("text_shape checked the layer")
    };
    let mut pass = if rate > 0.0 {
        // The output in place after the forward, its gradient in place before the backward.
        let drop = |buf: &GpuBuf<f32>| drop_in_place(io, (s.seq_len(), rate, 0), buf);
        let mut pass = LayerPass::new(
            fwd.clone().then(drop(io.y)?),
            Some(drop(io.dy)?.then(ln_b).then(emb_b)),
        );
        pass.forward_eval = Some(fwd);
        pass
    } else {
        LayerPass::new(fwd, Some(ln_b.then(emb_b)))
    };
    pass.scratch = scratch;
    pass.scratch.extend([e, de]);
    Ok(pass)
}

/// Dropout in place over the first `n` values of each replica of `buf` at `rate`, with the
/// layer's `j`-th site.
fn drop_in_place(
    io: &LayerIo<'_>,
    (n, rate, j): (usize, f32, u32),
    buf: &GpuBuf<f32>,
) -> Result<Dispatch> {
    let site = dropout_site(io.site, j);
    let keys = io.dropout_keys.replicas(io.replicas);
    dropout::prepare(io.gpu, (n, rate, site), buf.replicas(io.replicas), keys)
}

/// The embeddings' tables then their LayerNorm's γ and β, as `io.params` holds them.
fn split_embeddings(s: TextShape, params: &[f64]) -> (&[f64], &[f64]) {
    params.split_at((s.vocab + s.positions + s.types) * s.width)
}

fn norm_io<'a>(io: &RefIo<'a>, s: TextShape, gamma_beta: &'a [f64]) -> RefIo<'a> {
    RefIo {
        input: Act::Seq(s.tokens, s.width),
        first: false,
        params: gamma_beta,
        ..*io
    }
}

/// A BERT layer's dropout rate.
fn rate_of(layer: Layer) -> f32 {
    match layer {
        Layer::BertEmbeddings { dropout, .. } | Layer::BertLayer { dropout, .. } => dropout,
        _ => unreachable!("only BERT's layers come here"),
    }
}

pub(super) fn embeddings_forward(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> Vec<f64> {
    let s = text_shape(io.batch, io.input, layer);
    let (t, gb) = split_embeddings(s, io.params);
    let e = embedding::reference_forward(s, x, t);
    let y = layernorm::forward_eps(&norm_io(io, s, gb), &e, BERT_EPS);
    super::dropout::apply(io, rate_of(layer), io.site_of(0), &y)
}

pub(super) fn embeddings_backward(
    io: &RefIo<'_>,
    layer: Layer,
    x: &[f64],
    dy: &[f64],
    grads: &mut [f64],
) {
    let s = text_shape(io.batch, io.input, layer);
    let (t, gb) = split_embeddings(s, io.params);
    let e = embedding::reference_forward(s, x, t);
    let (gt, ggb) = grads.split_at_mut(t.len());
    let dy = super::dropout::apply(io, rate_of(layer), io.site_of(0), dy);
    let de = layernorm::backward_eps(&norm_io(io, s, gb), (&e, &dy), ggb, BERT_EPS);
    gt.copy_from_slice(&embedding::reference_backward(s, x, &de));
}

/// The encoder layer's sizes: the attention's, and the rows its linears see.
fn sizes(batch: usize, input: Act, layer: Layer) -> (AttnShape, usize) {
    let Layer::BertLayer { heads, .. } = layer else {
        unreachable!("only a BERT layer")
    };
    attention_sizes(batch, input, heads)
}

pub(super) fn build_layer(io: &LayerIo<'_>, layer: Layer) -> Result<LayerPass> {
    let (s, rows) = sizes(io.batch, io.input, layer);
    let (r, w, t, rate) = (io.replicas, s.width(), s.tokens, rate_of(layer));
    let text = io
        .text
        .expect("Model::new checks a BERT layer follows BERT's embeddings, on text");
    // Whole rows per replica like the plan's own activations, so a residual add can run over
    // a whole buffer against the layer's input or output.
    let alloc = |len: usize, what| {
        io.gpu
            .zeros::<f32>(r * len.next_multiple_of(ROW_FLOATS), what)
    };
    let shared = |len: usize, what| io.shared_zeros(r * len.next_multiple_of(ROW_FLOATS), what);
    // Kept from the forward for the backward.
    let [q, k, v] = ["bert query", "bert key", "bert value"].map(|n| alloc(rows * w, n));
    let (q, k, v) = (q?, k?, v?);
    let probs = alloc(s.probs_len(), "bert attention")?;
    let a = alloc(rows * w, "bert attention out")?;
    let hp = alloc(rows * w, "bert attention residual")?;
    let h = alloc(rows * w, "bert attention norm")?;
    let f = alloc(rows * 4 * w, "bert intermediate")?;
    let g = alloc(rows * 4 * w, "bert gelu")?;
    let up = alloc(rows * w, "bert output residual")?;
    // Gradients, which layers of a size share.
    let dup = shared(rows * w, "bert output residual grad")?;
    let dg = shared(rows * 4 * w, "bert gelu grad")?;
    let df = shared(rows * 4 * w, "bert intermediate grad")?;
    let dh = shared(rows * w, "bert attention norm grad")?;
    let dhp = shared(rows * w, "bert attention residual grad")?;
    let da = shared(rows * w, "bert attention out grad")?;
    let dq = shared(rows * w, "bert query grad")?;
    let dk = shared(rows * w, "bert key grad")?;
    let dv = shared(rows * w, "bert value grad")?;
    let dprobs = shared(s.probs_len(), "bert attention grad")?;
    // With dropout: the dropped probabilities (kept for the backward), and the two dense
    // outputs' gradients through the dropout, which the residuals do not see.
    let dropping = rate > 0.0;
    let (dropped, dup_d, dhp_d) = if dropping {
        (
            alloc(s.probs_len(), "bert dropped attention")?,
            shared(rows * w, "bert output dense grad")?,
            shared(rows * w, "bert attention dense grad")?,
        )
    } else {
        (probs.clone(), dup.clone(), dhp.clone())
    };
    let parts = layer.bert_parts().map(|(_, l)| l);
    let spans = layer.spans();
    let seq = Act::Seq(t, w);
    let part = |k: usize, bufs| io.part(seq, bufs, spans[k].views.clone());
    let dx = io
        .dx
        .expect("a BERT layer follows the embeddings, so it is never the first layer");
    let plain = Fused::default();
    let adding = Fused {
        accumulate_dx: true,
        ..plain
    };
    let input = (io.x, Some(dx));
    let (q_f, q_b) = linear::dense(
        &part(0, (io.x, &q, &dq, Some(dx))),
        dense(rows, parts[0]),
        input,
        (plain, None),
    )?;
    let (k_f, k_b) = linear::dense(
        &part(1, (io.x, &k, &dk, Some(dx))),
        dense(rows, parts[1]),
        input,
        (adding, None),
    )?;
    let (v_f, v_b) = linear::dense(
        &part(2, (io.x, &v, &dv, Some(dx))),
        dense(rows, parts[2]),
        input,
        (adding, None),
    )?;
    fn all(b: &GpuBuf<f32>, r: usize) -> View<'_> {
        b.replicas(r)
    }
    let reps = |b| all(b, r);
    let mask = KeyMask {
        x: text.replicas(r),
        offset: 2 * t,
        stride: 3 * t,
    };
    let probs_drop = dropping.then(|| AttnDropout {
        dropped: reps(&dropped),
        keys: io.dropout_keys.replicas(r),
        rate,
        site: dropout_site(io.site, 1),
    });
    let qkv = Qkv::Separate([reps(&q), reps(&k), reps(&v)]);
    let attend = |drop| {
        attention::prepare_forward_masked(
            io.gpu,
            s,
            qkv,
            (reps(&probs), reps(&a)),
            (Some(mask), drop),
        )
    };
    let attn_b = attention::prepare_backward_any(
        io.gpu,
        s,
        (qkv, reps(&probs)),
        reps(&da),
        reps(&dprobs),
        (Qkv::Separate([reps(&dq), reps(&dk), reps(&dv)]), probs_drop),
    )?;
    let (o_f, o_b) = linear::dense(
        &part(3, (&a, &hp, &dhp_d, Some(&da))),
        dense(rows, parts[3]),
        (&a, Some(&da)),
        (plain, None),
    )?;
    let add_x = vector::prepare_axpy(io.gpu, 1.0, io.x.view(), hp.view())?;
    let norm1 = part(4, (&hp, &h, &dh, Some(&dhp)));
    let (ln1_f, ln1_b, mut scratch) = layernorm::passes_eps(&norm1, (&hp, &dhp), false, BERT_EPS)?;
    let (i_f, i_b) = linear::dense(
        &part(5, (&h, &f, &df, Some(&dh))),
        dense(rows, parts[5]),
        (&h, Some(&dh)),
        (plain, None),
    )?;
    let n4 = rows * 4 * w;
    let gelu_f = gelu::prepare_forward(io.gpu, n4, reps(&f), reps(&g))?;
    let gelu_b = gelu::prepare_backward(io.gpu, n4, reps(&dg), reps(&df), reps(&f))?;
    let (out_f, out_b) = linear::dense(
        &part(6, (&g, &up, &dup_d, Some(&dg))),
        dense(rows, parts[6]),
        (&g, Some(&dg)),
        (plain, None),
    )?;
    let add_h = vector::prepare_axpy(io.gpu, 1.0, h.view(), up.view())?;
    let norm2 = part(7, (&up, io.y, io.dy, Some(&dup)));
    let (ln2_f, ln2_b, more) = layernorm::passes_eps(&norm2, (&up, &dup), false, BERT_EPS)?;
    scratch.extend(more);
    // The residuals' gradients: dh = intermediate's + dup, dx = the projections' + dhp.
    let add_dup = vector::prepare_axpy(io.gpu, 1.0, dup.view(), dh.view())?;
    let add_dhp = vector::prepare_axpy(io.gpu, 1.0, dhp.view(), dx.view())?;

    let chain = |v: Vec<Dispatch>| v.into_iter().fold(Dispatch::empty(), Dispatch::then);
    let forward = |attn: Dispatch, drop_hp: Option<Dispatch>, drop_up: Option<Dispatch>| {
        let mut v = vec![q_f.clone(), k_f.clone(), v_f.clone(), attn, o_f.clone()];
        v.extend(drop_hp);
        v.extend([
            add_x.clone(),
            ln1_f.clone(),
            i_f.clone(),
            gelu_f.clone(),
            out_f.clone(),
        ]);
        v.extend(drop_up);
        v.extend([add_h.clone(), ln2_f.clone()]);
        chain(v)
    };
    let n = rows * w;
    let mut pass = if dropping {
        let drop = |j, buf: &GpuBuf<f32>| drop_in_place(io, (n, rate, j), buf);
        // A dense output's gradient through its dropout, beside the residual's own.
        let through = |j, from: &GpuBuf<f32>, to: &GpuBuf<f32>| -> Result<Dispatch> {
            Ok(vector::prepare_copy(io.gpu, from.view(), to.view())?.then(drop(j, to)?))
        };
        let train = forward(
            attend(probs_drop)?,
            Some(drop(2, &hp)?),
            Some(drop(3, &up)?),
        );
        let bwd = chain(vec![
            ln2_b,
            through(3, &dup, &dup_d)?,
            out_b,
            gelu_b,
            i_b,
            add_dup,
            ln1_b,
            through(2, &dhp, &dhp_d)?,
            o_b,
            attn_b,
            q_b,
            k_b,
            v_b,
            add_dhp,
        ]);
        let mut pass = LayerPass::new(train, Some(bwd));
        pass.forward_eval = Some(forward(attend(None)?, None, None));
        scratch.extend([dropped, dup_d, dhp_d]);
        pass
    } else {
        let bwd = chain(vec![
            ln2_b, out_b, gelu_b, i_b, add_dup, ln1_b, o_b, attn_b, q_b, k_b, v_b, add_dhp,
        ]);
        LayerPass::new(forward(attend(None)?, None, None), Some(bwd))
    };
    scratch.extend([
        q, k, v, probs, a, hp, h, f, g, up, dup, dg, df, dh, dhp, da, dq, dk, dv, dprobs,
    ]);
    pass.scratch = scratch;
    Ok(pass)
}

/// The text batch's attention mask, `[batch, tokens]`.
fn mask_of(io: &RefIo<'_>, s: AttnShape) -> Vec<f64> {
    let text = io
        .text
        .expect("Model::new checks a BERT layer follows BERT's embeddings, on text");
    let t = s.tokens;
    (0..s.batch)
        .flat_map(|b| text[b * 3 * t + 2 * t..][..t].to_vec())
        .collect()
}

/// The attention probabilities' dropout in this pass (training only).
fn probs_dropout(io: &RefIo<'_>, layer: Layer) -> attention::ProbsDropout {
    let rate = rate_of(layer);
    (rate > 0.0 && io.state.is_none()).then(|| (io.dropout.0, io.site_of(1), rate))
}

/// Queries, keys and values in the fused layout the attention's reference takes.
fn fuse_qkv(rows: usize, w: usize, [q, k, v]: [&[f64]; 3]) -> Vec<f64> {
    let mut out = Vec::with_capacity(3 * rows * w);
    for row in 0..rows {
        for part in [q, k, v] {
            out.extend_from_slice(&part[row * w..][..w]);
        }
    }
    out
}

/// Every intermediate of the f64 forward: q, k, v, a, hp, h, f, g, up, y.
fn forward_all(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> [Vec<f64>; 10] {
    let (s, rows) = sizes(io.batch, io.input, layer);
    let parts = layer.bert_parts().map(|(_, l)| l);
    let spans = layer.spans();
    let seq = Act::Seq(s.tokens, s.width());
    let prm = |k: usize| &io.params[spans[k].params.clone()];
    let ln = |k: usize, v: &[f64]| layernorm::forward_eps(&io.part_of(layer, k, seq), v, BERT_EPS);
    let lin = |k: usize, v: &[f64]| linear::dense_forward(dense(rows, parts[k]), prm(k), v);
    let add = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a + b).collect::<Vec<f64>>();
    let drop = |j: u32, v: &[f64]| super::dropout::apply(io, rate_of(layer), io.site_of(j), v);
    let (q, k, v) = (lin(0, x), lin(1, x), lin(2, x));
    let fused = fuse_qkv(rows, s.width(), [&q, &k, &v]);
    let mask = mask_of(io, s);
    let (_, a) =
        attention::reference_forward_dropped(s, &fused, Some(&mask), probs_dropout(io, layer));
    let hp = add(x, &drop(2, &lin(3, &a)));
    let h = ln(4, &hp);
    let f = lin(5, &h);
    let g = gelu::reference_forward(&f);
    let up = add(&h, &drop(3, &lin(6, &g)));
    let y = ln(7, &up);
    [q, k, v, a, hp, h, f, g, up, y]
}

pub(super) fn layer_forward(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> Vec<f64> {
    let [.., y] = forward_all(io, layer, x);
    y
}

pub(super) fn layer_backward(
    io: &RefIo<'_>,
    layer: Layer,
    x: &[f64],
    dy: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    let (s, rows) = sizes(io.batch, io.input, layer);
    let w = s.width();
    let parts = layer.bert_parts().map(|(_, l)| l);
    let spans = layer.spans();
    let seq = Act::Seq(s.tokens, w);
    let [q, k, v, a, hp, h, f, g, up, _] = forward_all(io, layer, x);
    // Part k's input gradient from its input and output gradient, its tensors' into grads.
    let mut part = |k: usize, x: &[f64], dy: &[f64]| {
        let gk = &mut grads[spans[k].params.clone()];
        match parts[k] {
            Layer::LayerNorm { .. } => {
                layernorm::backward_eps(&io.part_of(layer, k, seq), (x, dy), gk, BERT_EPS)
            }
            l => linear::dense_backward(
                dense(rows, l),
                &io.params[spans[k].params.clone()],
                x,
                dy,
                gk,
            ),
        }
    };
    let add = |a: Vec<f64>, b: &[f64]| a.iter().zip(b).map(|(a, b)| a + b).collect::<Vec<f64>>();
    let drop = |j: u32, v: &[f64]| super::dropout::apply(io, rate_of(layer), io.site_of(j), v);
    let dup = part(7, &up, dy);
    let dg = part(6, &g, &drop(3, &dup));
    let df = gelu::reference_backward(&dg, &f);
    let dh = add(part(5, &h, &df), &dup);
    let dhp = part(4, &hp, &dh);
    let da = part(3, &a, &drop(2, &dhp));
    let fused = fuse_qkv(rows, w, [&q, &k, &v]);
    let mask = mask_of(io, s);
    let dqkv = attention::reference_backward_dropped(
        s,
        &fused,
        &da,
        (Some(&mask), probs_dropout(io, layer)),
    );
    let split = |p: usize| -> Vec<f64> {
        (0..rows)
            .flat_map(|row| dqkv[(row * 3 + p) * w..][..w].to_vec())
            .collect()
    };
    let dx = add(part(0, x, &split(0)), &part(1, x, &split(1)));
    let dx = add(dx, &part(2, x, &split(2)));
    add(dx, &dhp)
}
