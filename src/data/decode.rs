//! Image files to pixels: any format the `image` crate reads (PNG, JPEG, BMP, GIF), told by
//! the content rather than the name, under limits that keep a corrupt header from claiming
//! gigabytes. Image folders' loader and their batches' decoding both read through here.

use crate::error::{Error, Result};
use std::path::Path;

/// The largest image a folder may hold, in pixels a side and in bytes decoded: far beyond
/// any training image, and small enough that a corrupt header cannot claim gigabytes.
const MAX_SIDE: u32 = 16384;
const MAX_DECODED: u64 = 512 << 20;

/// One image file's bytes as RGB at its own size: three channel-major planes and (height,
/// width). The decoder's limits keep a corrupt header from claiming gigabytes.
pub fn decode_rgb(path: &Path, bytes: &[u8]) -> Result<(Vec<u8>, (usize, usize))> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::data(
            path,
            format!("cannot be read as an image ({e}); remove it or convert it to PNG/JPEG"),
        )
    };
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED);
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(&e))?;
    reader.limits(limits);
    let img = reader.decode().map_err(|e| bad(&e))?;
    let rgb = img.to_rgb8();
    // HWC (interleaved) to CHW.
    let planes: Vec<u8> = (0..3)
        .flat_map(|c| rgb.pixels().map(move |p| p.0[c]))
        .collect();
    Ok((planes, (rgb.height() as usize, rgb.width() as usize)))
}

/// One image file's bytes (any format the `image` crate reads, told by its content, not its
/// name) as RGB resized to `size`×`size` as PyTorch's `F.interpolate(mode="bilinear",
/// align_corners=False, antialias=False)` (rounded to 8 bits), channel-major; `path` names it
/// in errors.
pub fn decode_image(path: &Path, bytes: &[u8], size: usize) -> Result<Vec<u8>> {
    u32::try_from(size).map_err(|_| Error::Invalid(format!("--image-size {size} is too large")))?;
    let (planes, from) = decode_rgb(path, bytes)?;
    Ok(super::resample::bilinear_u8(&planes, 3, from, (size, size)))
}
