//! CIFAR-10 and CIFAR-100 binary batches (one or two label bytes per record).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("data_batch_1.bin");
    let _ = sampa::data::cifar::parse_records(path, data, 1, ("CIFAR-10", 10));
    let _ = sampa::data::cifar::parse_records(path, data, 2, ("CIFAR-100", 100));
});
