//! Starting from a pre-trained file made for other data (`--init` with `--reset-head`, or a
//! ViT at another image size): timm's `load_pretrained` adaptations, each only where the
//! file's tensor differs from the model's.
//!
//! - The head (the model's last layer) is new and seeded with `--reset-head`, whatever the
//!   file holds there, as `timm.create_model(..., num_classes=N)` builds it.
//! - `pos_embed` on another patch grid is resampled as timm's `resample_abs_pos_embed` with
//!   its defaults: the class token kept, the grid bicubic with antialiasing.
//! - The first convolution's weight with 3 input channels, where the data has 1, is summed
//!   over them, as timm's `adapt_input_conv`.
//! - A BERT leaves out what Hugging Face's `BertForSequenceClassification.from_pretrained`
//!   leaves out of a pre-trained checkpoint: the pre-training heads (`cls.*`) and the
//!   `position_ids` buffer older files carry.
//!
//! Any other difference is a one-line error naming the tensor, both shapes and what to do.

use super::read::{f32_values, finite, no_unknown_but, param_tensor, parse};
use crate::data::resample::bicubic_antialiased;
use crate::error::{Error, Result};
use crate::nn::{Model, Param};
use safetensors::SafeTensors;
use std::path::Path;

/// The model's parameters from the file at `path`, `seeded` (the run's seeded initialisation)
/// giving the head when `reset_head`, and a note on each adaptation made.
pub fn load(
    model: &Model,
    path: &Path,
    seeded: &[f32],
    reset_head: bool,
) -> Result<(Vec<f32>, Vec<String>)> {
    let bytes = super::read::bytes(path)?;
    let st = parse(path, &bytes)?;
    let mut x = seeded.to_vec();
    let mut notes = Vec::new();
    if reset_head {
        notes.push(format!("a new seeded head for {} classes", model.classes));
    }
    for p in &model.params {
        if reset_head && p.layer == head(model) {
            continue;
        }
        let (values, note) = adapted(model, path, &st, p)?;
        notes.extend(note);
        finite(path, &p.name, &values)?;
        x[p.offset..p.offset + p.len()].copy_from_slice(&values);
    }
    // A model with BatchNorm finds its running statistics in the file too (`load_state`).
    let bert = model
        .param("bert.embeddings.word_embeddings.weight")
        .is_some();
    let pretraining = |n: &str| bert && (n.starts_with("cls.") || n.ends_with(".position_ids"));
    if st.names().iter().any(|n| pretraining(n)) {
        notes.push("left out the pre-training heads (cls.*), as Hugging Face does".into());
    }
    no_unknown_but(model, (path, &st), pretraining)?;
    Ok((x, notes))
}

/// The model's head: its last layer.
fn head(model: &Model) -> usize {
    model.layers.len() - 1
}

/// Tensor `p` from the file, adapted to the model's shape where timm would (with a note
/// saying how).
fn adapted(
    model: &Model,
    path: &Path,
    st: &SafeTensors<'_>,
    p: &Param,
) -> Result<(Vec<f32>, Option<String>)> {
    let t = param_tensor(model, path, st, (p, true))?;
    let (theirs, ours) = (t.shape(), &p.shape[..]);
    let values = f32_values(&t);
    if theirs == ours {
        return Ok((values, None));
    }
    let mismatch = |hint: &str| {
        Error::data(
            path,
            format!(
                "tensor {:?} is {theirs:?} but {} needs {ours:?}{hint}",
                p.name, model.name
            ),
        )
    };
    let first_conv = p.layer == 0 && ours.len() == 4 && p.name.ends_with("weight");
    match (p.name.as_str(), theirs, ours) {
        ("pos_embed", [1, t_in, w_in], [1, t_out, w_out]) if w_in == w_out => {
            let grid = |t: usize| (1..=t).find(|g| g * g + 1 == t);
            let (Some(from), Some(to)) = (grid(*t_in), grid(*t_out)) else {
                return Err(mismatch(
                    ": position embeddings are a class token and a square grid of patches",
                ));
            };
            let note = format!("pos_embed resampled from {from}×{from} patches to {to}×{to}");
            Ok((resampled_pos_embed(&values, *w_in, from, to), Some(note)))
        }
        (_, [o_in, 3, kh_in, kw_in], [o, 1, kh, kw])
            if first_conv && (o_in, kh_in, kw_in) == (o, kh, kw) =>
        {
            // adapt_input_conv for in_chans=1: the sum over the RGB weights.
            let k = kh * kw;
            let summed = (0..*o)
                .flat_map(|f| {
                    let w = &values[f * 3 * k..][..3 * k];
                    (0..k).map(move |i| w[i] + w[k + i] + w[2 * k + i])
                })
                .collect();
            let note = format!("{} summed over its 3 input channels", p.name);
            Ok((summed, Some(note)))
        }
        _ if p.layer == head(model) => Err(mismatch(&format!(
            "; give --reset-head for a new head for this data's {} classes",
            model.classes
        ))),
        _ => Err(mismatch(
            "; the file was made for another model (check --model and --image-size)",
        )),
    }
}

/// `pos_embed` `[1, 1 + from², width]` to `[1, 1 + to², width]`: the class token kept, the
/// grid resampled channel by channel as `F.interpolate(mode="bicubic", antialias=True)`.
fn resampled_pos_embed(values: &[f32], width: usize, from: usize, to: usize) -> Vec<f32> {
    let (cls, grid) = values.split_at(width);
    // [tokens, width] to width planes of from × from, as timm's permute(0, 3, 1, 2).
    let planes: Vec<f64> = (0..width)
        .flat_map(|c| (0..from * from).map(move |t| grid[t * width + c] as f64))
        .collect();
    let out = bicubic_antialiased(&planes, width, (from, from), (to, to));
    let mut v = cls.to_vec();
    for t in 0..to * to {
        v.extend((0..width).map(|c| out[c * to * to + t] as f32));
    }
    v
}
