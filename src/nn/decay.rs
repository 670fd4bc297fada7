//! Which parameters `--no-wd-1d` exempts from weight decay, by timm's rule
//! (`timm.optim.param_groups_weight_decay`, which Hugging Face's fine-tuning scripts follow
//! for biases and normalisation weights): every tensor of one dimension (biases, BatchNorm's
//! and LayerNorm's weights), every `.bias`, and the tensors a model lists as
//! `no_weight_decay` (a ViT's `pos_embed` and `cls_token`).

use super::Param;
use super::model::Model;
use crate::kernels::decay::DecayMask;

/// The tensors timm's ViTs list in `no_weight_decay()`.
const NO_WEIGHT_DECAY: [&str; 2] = ["pos_embed", "cls_token"];

impl Model {
    /// The trainable tensors `--no-wd-1d` exempts from weight decay, in parameter order.
    pub fn decay_exempt(&self) -> Vec<&Param> {
        self.params
            .iter()
            .filter(|p| {
                let last = p.name.rsplit('.').next().unwrap_or(&p.name);
                p.shape.len() <= 1 || last == "bias" || NO_WEIGHT_DECAY.contains(&last)
            })
            .collect()
    }

    /// Weight decay's mask under `--no-wd-1d`: every parameter but [`Model::decay_exempt`]'s.
    pub fn decay_mask(&self) -> DecayMask {
        let exempt = self.decay_exempt().into_iter();
        DecayMask::except(
            self.param_count(),
            exempt.map(|p| p.offset..p.offset + p.len()),
        )
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::nn::vits::VitSpec;

    fn exempt_names(m: &Model) -> Vec<&str> {
        m.decay_exempt().iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn a_vit_exempts_biases_norms_and_its_embeddings_as_timm_does() {
        let spec = VitSpec::named("vit-2-64-4-p7").unwrap();
        let m = Model::vit(spec, (1, 28, 28), 10).unwrap();
        let mut want = vec!["cls_token", "pos_embed", "patch_embed.proj.bias"];
        let block = [
            "norm1.weight",
            "norm1.bias",
            "attn.qkv.bias",
            "attn.proj.bias",
            "norm2.weight",
            "norm2.bias",
            "mlp.fc1.bias",
            "mlp.fc2.bias",
        ];
        let blocks: Vec<String> = (0..2)
            .flat_map(|i| block.map(|t| format!("blocks.{i}.{t}")))
            .collect();
        want.extend(blocks.iter().map(String::as_str));
        want.extend(["norm.weight", "norm.bias", "head.bias"]);
        let mut got = exempt_names(&m);
        got.sort();
        want.sort();
        assert_eq!(got, want);
        // The mask clears exactly the exempt tensors' elements.
        let mask = m.decay_mask();
        let exempt: usize = m.decay_exempt().iter().map(|p| p.len()).sum();
        let decays = (0..m.param_count()).filter(|&i| mask.applies(i)).count();
        assert_eq!(decays + exempt, m.param_count());
        for p in &m.params {
            let spared = !mask.applies(p.offset) && !mask.applies(p.offset + p.len() - 1);
            let kept = mask.applies(p.offset) && mask.applies(p.offset + p.len() - 1);
            assert!(
                if want.contains(&p.name.as_str()) {
                    spared
                } else {
                    kept
                },
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn a_resnet_exempts_batchnorm_and_the_head_bias() {
        let m = Model::resnet(20, 3, 32, 32, 10).unwrap();
        let got = exempt_names(&m);
        let want: Vec<&str> = m
            .params
            .iter()
            .map(|p| p.name.as_str())
            .filter(|n| n.ends_with(".bias") || n.contains("bn"))
            .collect();
        // 19 BatchNorms (weight and bias) and the classifier's bias.
        assert_eq!(got.len(), 39);
        assert_eq!(got, want);
        assert!(!got.contains(&"linear.weight") && got.contains(&"linear.bias"));
    }
}
