//! Vision Transformers as timm's `VisionTransformer` builds them (class-token pooling, pre-norm
//! blocks, MLP ratio 4, qkv bias, no dropout), with timm's tensor names and default
//! initialisation, and the `--model` names that choose them. Native only, like the ResNets.

use super::layer::{Act, Init, Layer};
use super::model::Model;
use crate::error::{Error, Result};

/// The sizes of a ViT: `--model vit-DEPTH-WIDTH-HEADS-pPATCH`, or a preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VitSpec {
    /// Encoder blocks.
    pub depth: usize,
    /// Features per token (timm's `embed_dim`).
    pub width: usize,
    /// Attention heads.
    pub heads: usize,
    /// Patch side in pixels.
    pub patch: usize,
}

const FORM: &str = "expected vit-DEPTH-WIDTH-HEADS-pPATCH (such as vit-2-64-4-p7) or one of \
                    vit-tiny, vit-small, vit-base";

impl VitSpec {
    /// The spec `--model kind` names: `vit-tiny` (12-192-3-p16), `vit-small` (12-384-6-p16),
    /// `vit-base` (12-768-12-p16) or `vit-D-W-H-pP`.
    pub fn named(kind: &str) -> Result<VitSpec> {
        let spec = |depth, width, heads, patch| VitSpec {
            depth,
            width,
            heads,
            patch,
        };
        let parsed = match kind {
            "vit-tiny" => spec(12, 192, 3, 16),
            "vit-small" => spec(12, 384, 6, 16),
            "vit-base" => spec(12, 768, 12, 16),
            _ => {
                let parts: Vec<&str> = kind.split('-').collect();
                let num = |s: &str| s.parse::<usize>().ok();
                match parts[..] {
                    ["vit", d, w, h, p] => match (num(d), num(w), num(h), p.strip_prefix('p')) {
                        (Some(d), Some(w), Some(h), Some(p)) => match num(p) {
                            Some(p) => spec(d, w, h, p),
                            None => return Err(bad(kind)),
                        },
                        _ => return Err(bad(kind)),
                    },
                    _ => return Err(bad(kind)),
                }
            }
        };
        parsed.check(kind)?;
        Ok(parsed)
    }

    fn check(self, kind: &str) -> Result<()> {
        if self.depth == 0 || self.width == 0 || self.heads == 0 || self.patch == 0 {
            return Err(Error::Invalid(format!(
                "--model {kind}: depth, width, heads and patch must be positive"
            )));
        }
        heads_divide(kind, self.width, self.heads)
    }
}

/// A transformer's `heads` must divide its `width` (a ViT's or a BERT's `--model kind`).
pub(crate) fn heads_divide(kind: &str, width: usize, heads: usize) -> Result<()> {
    if !width.is_multiple_of(heads) {
        return Err(Error::Invalid(format!(
            "--model {kind}: {heads} heads do not divide the width {width}; pick heads that \
             divide it (each head takes width/heads features)"
        )));
    }
    Ok(())
}

fn bad(kind: &str) -> Error {
    Error::Invalid(format!("--model {kind}: {FORM}"))
}

impl Model {
    /// The ViT `spec` on `channels`×`height`×`width` images in `classes` classes, as timm's
    /// `VisionTransformer(img_size, patch_size, in_chans, num_classes, embed_dim, depth,
    /// num_heads)`: the patch convolution (`patch_embed.proj`, kernel = stride = patch), the
    /// class token and position embeddings (`cls_token`, `pos_embed`), `blocks.{i}`, the final
    /// `norm`, the class token's features, and the `head`. Initialisation as timm's default:
    /// linear weights truncated normal (std 0.02) with zero biases, `pos_embed` truncated
    /// normal (std 0.02), `cls_token` normal (std 1e-6), the patch convolution as PyTorch's
    /// `Conv2d` default, LayerNorms 1 and 0.
    pub fn vit(
        spec: VitSpec,
        (channels, height, width): (usize, usize, usize),
        classes: usize,
    ) -> Result<Model> {
        let VitSpec {
            depth,
            width: w,
            heads,
            patch: p,
        } = spec;
        let kind = format!("vit-{depth}-{w}-{heads}-p{p}");
        spec.check(&kind)?;
        if channels == 0 || classes < 2 {
            return Err(Error::Invalid(format!(
                "--model {kind} needs images with channels and at least 2 classes, got \
                 {channels}×{height}×{width} and {classes}"
            )));
        }
        if height != width || !height.is_multiple_of(p) || height < p {
            return Err(Error::Invalid(format!(
                "--model {kind}: the patch side {p} must divide the square images' side, but \
                 the images are {height}×{width}; choose --image-size as a multiple of {p}, or \
                 another patch"
            )));
        }
        let grid = height / p;
        let named = |s: &str| Some(s.to_string());
        let patch_embed = Layer::Conv2d {
            cin: channels,
            cout: w,
            k: p,
            pad: 0,
            stride: p,
            bias: true,
        };
        let tokens = Layer::Tokens {
            width: w,
            tokens: grid * grid + 1,
        };
        let mut layers = vec![
            (patch_embed, named("patch_embed.proj")),
            (tokens, named("")),
        ];
        for i in 0..depth {
            let block = Layer::VitBlock { width: w, heads };
            layers.push((block, Some(format!("blocks.{i}"))));
        }
        layers.extend([
            (Layer::LayerNorm { c: w }, named("norm")),
            (Layer::ClassToken, None),
            (
                Layer::Linear {
                    inp: w,
                    out: classes,
                },
                named("head"),
            ),
        ]);
        let mut model = Model::new(
            format!("{kind} {channels}×{height}×{width}→{classes}"),
            Act::Image(channels, height, width),
            classes,
            layers,
        )?;
        for t in &mut model.params {
            let linear = t.name.starts_with("head.")
                || t.name.contains(".attn.")
                || t.name.contains(".mlp.");
            if linear && t.name.ends_with(".weight") {
                t.init = Init::TruncNormal(0.02);
            } else if linear {
                t.init = Init::Fill(0.0);
            }
        }
        Ok(model)
    }
}
