//! `--image-size` for data sets whose images come at one size (IDX, CIFAR, the embedded
//! subset): every image resized to S×S, channel by channel, as PyTorch's
//! `F.interpolate(mode="bilinear", align_corners=False, antialias=False)` does, so a model
//! built for 32×32 inputs (VGG) trains on 28×28 Fashion-MNIST too and a ViT's patches divide
//! its images. The images stay 8-bit: each resized value is rounded to the nearest level, at
//! most half a level (1/510 of the range) from PyTorch's float result.

use super::dataset::{Dataset, ImageShape, Splits};
use crate::error::{Error, Result};
use std::path::Path;

/// The largest side `--image-size` takes (an image folder's decoder limit).
const MAX_SIDE: usize = 16384;

/// `splits` with every image resized to `side`×`side` (unchanged when already that size).
pub fn resize_splits(mut splits: Splits, side: usize) -> Result<Splits> {
    if side == 0 || side > MAX_SIDE {
        return Err(Error::Invalid(format!(
            "--image-size {side}: expected a side from 1 to {MAX_SIDE} pixels"
        )));
    }
    let shape = splits.train.shape;
    if (shape.height, shape.width) == (side, side) {
        return Ok(splits);
    }
    splits.train = resize(&splits.train, side, "training")?;
    splits.test = resize(&splits.test, side, "test")?;
    if let Some(val) = &splits.val {
        splits.val = Some(resize(val, side, "validation")?);
    }
    splits.description = format!("{}, resized to {side}×{side}", splits.description);
    Ok(splits)
}

/// `data` with each image's channels resized to `side`×`side`.
fn resize(data: &Dataset, side: usize, which: &str) -> Result<Dataset> {
    let shape = ImageShape {
        channels: data.shape.channels,
        height: side,
        width: side,
    };
    // The resized set is held whole: check that it fits before allocating it.
    crate::memory::check(
        &format!(
            "the {} {which} images at {side}×{side}×{}",
            data.len(),
            shape.channels
        ),
        crate::memory::product(&[data.len() as u64, shape.len() as u64]),
        "use a smaller --image-size",
    )?;
    let from = (data.shape.height, data.shape.width);
    let mut images = Vec::with_capacity(data.len() * shape.len());
    for i in 0..data.len() {
        let out = super::resample::bilinear_u8(data.image(i), shape.channels, from, (side, side));
        images.extend(out);
    }
    Dataset::new(
        Path::new("--image-size"),
        images,
        data.labels.clone(),
        shape,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn splits(shape: ImageShape, images: Vec<u8>) -> Splits {
        let n = images.len() / shape.len();
        let data = Dataset::new(Path::new("test"), images, vec![1; n], shape).unwrap();
        Splits {
            train: data.clone(),
            test: data,
            val: None,
            classes: 2,
            class_names: vec!["a".into(), "b".into()],
            description: "d".into(),
            natural_images: false,
        }
    }

    #[test]
    fn resizing_keeps_flat_planes_flat_and_a_ramp_monotone() {
        let shape = ImageShape {
            channels: 2,
            height: 4,
            width: 4,
        };
        // Channel 0 flat at 200; channel 1 a left-to-right ramp 0, 80, 160, 240.
        let mut img = vec![200u8; 16];
        img.extend((0..16).map(|i| (i % 4) as u8 * 80));
        let s = resize_splits(splits(shape, img), 8).unwrap();
        assert_eq!((s.train.shape.height, s.train.shape.width), (8, 8));
        assert_eq!(s.test.images.len(), 2 * 64);
        let (flat, ramp) = s.train.images.split_at(64);
        assert!(flat.iter().all(|&p| p == 200), "{flat:?}");
        for row in ramp.chunks(8) {
            assert!(row.windows(2).all(|p| p[0] <= p[1]), "{row:?}");
            assert_eq!(row, ramp[..8].to_vec().as_slice(), "rows alike");
            assert!(row[0] <= 10 && row[7] >= 230, "{row:?}");
        }
        assert!(s.description.ends_with("resized to 8×8"));
    }

    #[test]
    fn the_native_size_is_kept_and_a_zero_side_is_an_error() {
        let shape = ImageShape {
            channels: 1,
            height: 2,
            width: 2,
        };
        let s = resize_splits(splits(shape, vec![1, 2, 3, 4]), 2).unwrap();
        assert_eq!(s.train.images, [1, 2, 3, 4]);
        let err = resize_splits(splits(shape, vec![1, 2, 3, 4]), 0).unwrap_err();
        assert!(err.to_string().contains("--image-size 0"), "{err}");
    }
}
