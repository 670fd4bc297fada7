//! Image-folder files: any format the image crate reads, resized to 8×8.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sampa::data::folder::decode_image(std::path::Path::new("train/a/0.png"), data, 8);
});
