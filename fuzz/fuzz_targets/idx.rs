//! IDX files, raw or gzipped: the input split at its first byte's position into an image and a
//! label file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |&b| b as usize).min(data.len());
    let (images, labels) = data.split_at(cut);
    let _ = sampa::data::idx::parse_split(
        (Path::new("train-images-idx3-ubyte"), images),
        (Path::new("train-labels-idx1-ubyte"), labels),
        10,
    );
});
