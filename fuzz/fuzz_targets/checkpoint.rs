//! Checkpoints as `--resume` reads them, for a small MLP.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let model = sampa::nn::Model::mlp(4, &[3], 2).expect("a small MLP");
    let path = std::path::Path::new("checkpoint.safetensors");
    let _ = sampa::run::checkpoint::load_checkpoint_bytes(&model, path, data);
});
