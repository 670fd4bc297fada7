//! Which model `--model` names: the MLP, the small CNN, or (natively) a ResNet, a Wide ResNet,
//! a VGG with BatchNorm or a DenseNet, for a data set's images and classes, or a BERT for its
//! texts.

use super::model::Model;
use crate::error::Result;

impl Model {
    /// The model `kind` names (`cnn`, `resnetN`, `wrn-D-K`, `vggN-bn`, `densenet121`,
    /// `densenet-cifar`, `vit-D-W-H-pP`, `vit-tiny`, `vit-small`, `vit-base`, else the MLP with
    /// `hidden` widths) for `splits`' images and classes: what `--model` builds.
    pub fn for_splits(kind: &str, hidden: &[usize], splits: &crate::data::Splits) -> Result<Model> {
        #[cfg(not(target_arch = "wasm32"))]
        if kind.starts_with("bert") {
            return Model::for_text_tables(kind, splits, None);
        }
        Model::for_images(kind, hidden, splits.train.shape, splits.classes)
    }

    /// The BERT `kind` names for `splits`' tokenized texts (the tokenizer's `[PAD]` and the
    /// tokens per example), its word and position tables as `tables` fixes them (an `--init`
    /// file's), else the tokenizer's vocabulary and 512 positions (Hugging Face's
    /// checkpoints'). The tokenizer's ids must fit the word table.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn for_text_tables(
        kind: &str,
        splits: &crate::data::Splits,
        tables: Option<super::berts::Tables>,
    ) -> Result<Model> {
        let Some(text) = &splits.train.text else {
            return Err(crate::error::Error::Invalid(format!(
                "--model {kind} reads text, and {} holds images; give --task and --tokenizer",
                splits.description
            )));
        };
        let tables = tables.unwrap_or(super::berts::Tables {
            words: text.vocab,
            positions: super::berts::POSITIONS,
        });
        if tables.words < text.vocab {
            return Err(crate::error::Error::Invalid(format!(
                "--tokenizer: {} ids, but the model's word table has {} rows; give the \
                 tokenizer of the checkpoint the model comes from",
                text.vocab, tables.words
            )));
        }
        let input = super::berts::TextInput {
            vocab: tables.words,
            positions: tables.positions,
            tokens: text.tokens,
            pad: text.pad as usize,
        };
        Model::bert(super::berts::BertSpec::named(kind)?, input, splits.classes)
    }

    /// The model `kind` names for images of `shape` in `classes` classes.
    pub fn for_images(
        kind: &str,
        hidden: &[usize],
        shape: crate::data::ImageShape,
        classes: usize,
    ) -> Result<Model> {
        let (c, h, w) = (shape.channels, shape.height, shape.width);
        match kind {
            "cnn" => Model::cnn(c, h, w, classes),
            #[cfg(not(target_arch = "wasm32"))]
            _ if let Some(depth) = super::torchvision::torchvision_depth(kind) => {
                Model::torchvision_resnet(depth, (c, h, w), classes)
            }
            #[cfg(not(target_arch = "wasm32"))]
            _ if kind.starts_with("resnet") => {
                let depth = super::resnets::resnet_depth(kind)?;
                Model::resnet(depth, c, h, w, classes)
            }
            #[cfg(not(target_arch = "wasm32"))]
            _ if kind.starts_with("wrn") => {
                let (depth, width) = super::resnets::wrn_size(kind)?;
                Model::wrn(depth, width, (c, h, w), classes)
            }
            #[cfg(not(target_arch = "wasm32"))]
            _ if kind.starts_with("vgg") => {
                let depth = super::vggs::vgg_depth(kind)?;
                Model::vgg(depth, (c, h, w), classes)
            }
            #[cfg(not(target_arch = "wasm32"))]
            _ if kind.starts_with("densenet") => {
                let spec = super::densenets::DenseSpec::named(kind)?;
                Model::densenet(&spec, kind, (c, h, w), classes)
            }
            _ if kind.starts_with("vit") => {
                let spec = super::vits::VitSpec::named(kind)?;
                Model::vit(spec, (c, h, w), classes)
            }
            _ => Model::mlp(shape.len(), hidden, classes),
        }
    }

    /// Whether the model `kind` names has BatchNorm, known before any data is: the ResNets,
    /// Wide ResNets, VGGs and DenseNets have it; the CNN, the MLP and the ViTs do not.
    pub fn kind_has_batchnorm(kind: &str) -> bool {
        ["resnet", "wrn", "vgg", "densenet"]
            .iter()
            .any(|p| kind.starts_with(p))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::data::ImageShape;

    #[test]
    fn batchnorm_by_name_agrees_with_the_built_models() {
        let shape = ImageShape {
            channels: 3,
            height: 32,
            width: 32,
        };
        let kinds = [
            "mlp",
            "cnn",
            "resnet8",
            "resnet18",
            "wrn-10-1",
            "vgg11-bn",
            "densenet-cifar",
            "vit-tiny",
        ];
        for kind in kinds {
            let m = Model::for_images(kind, &[16], shape, 10).unwrap();
            assert_eq!(
                Model::kind_has_batchnorm(kind),
                !m.state.is_empty(),
                "{kind}"
            );
        }
    }
}
