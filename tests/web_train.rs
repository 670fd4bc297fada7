//! Training in the browser: the same core as native (kernels, optimizer program, recorder,
//! async step) runs SAMPa-0.2 on the browser's WebGPU adapter in headless Chromium, on the MLP
//! and on the small ViT the training page offers, and its trajectory matches the f64 reference
//! to the native optimizer tests' tolerance (`cargo test --target wasm32-unknown-unknown`; see
//! .cargo/config.toml and webdriver.json).
#![cfg(target_arch = "wasm32")]

use sampa::kernels::Kernels;
use sampa::kernels::sgd::SgdHyper;
use sampa::nn::Model;
use sampa::optim::{OptimizerConfig, OptimizerKind};
use sampa::train::{TrainerSpec, parity};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The browser's WebGPU adapter.
async fn browser_gpu() -> sampa::Gpu {
    let instance = sampa::gpu::adapters::instance();
    let adapter = instance.request_adapter(&Default::default()).await.expect(
        "no WebGPU adapter in this browser: run Chromium with --enable-unsafe-webgpu \
         (webdriver.json passes it to wasm-bindgen-test-runner)",
    );
    sampa::Gpu::from_adapter(0, adapter).await.unwrap()
}

/// SAMPa-0.2 (ρ 0.05) on `model` for the parity tests' `steps` batches, in the browser and in
/// f64; label smoothing 0.1.
async fn sampa_parity(model: &Model, steps: usize, hyper: impl Fn(usize) -> SgdHyper) {
    let gpu = browser_gpu().await;
    let x0 = model.init(5);
    let spec = TrainerSpec {
        model: model.clone(),
        smoothing: 0.1,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::Sampa,
            lambda: 0.2,
            rho: 0.05,
            ..Default::default()
        },
        seed: 9,
        kernels: Kernels::GPU,
    };
    let batches = parity::batches(model, steps);
    let p = parity::parity(&gpu, spec, &x0, &batches, hyper)
        .await
        .unwrap();
    console_log!(
        "{}: {} SAMPa-0.2 after {steps} steps: max |x - x_f64| / max |x| = {:.2e}, loss {:.2e}",
        gpu.adapter.short(),
        model.name,
        p.params,
        p.loss
    );
    assert!(p.moved > 1e-3, "the parameters barely moved ({})", p.moved);
    assert!(
        p.loss < 1e-4,
        "reported loss off by {:.2e} relative",
        p.loss
    );
    assert!(p.params <= 1e-5, "{:.2e} > 1e-5", p.params);
}

#[wasm_bindgen_test]
async fn twenty_sampa_steps_in_the_browser_match_the_f64_reference() {
    // The native optimizer tests' model, batches, schedule and tolerance.
    let model = Model::mlp(24, &[16, 12], 4).unwrap();
    sampa_parity(&model, 20, |t| parity::hyper(false, t)).await;
}

/// The training page's ViT: LayerNorm, GELU, attention and the tokens on WebGPU in the browser,
/// at the rate of the native ViT tests.
#[wasm_bindgen_test]
async fn five_vit_steps_in_the_browser_match_the_f64_reference() {
    let spec = sampa::nn::vits::VitSpec::named("vit-2-64-4-p7").unwrap();
    let model = Model::vit(spec, (1, 28, 28), 10).unwrap();
    let hyper = |t| SgdHyper {
        lr: 0.05,
        ..parity::hyper(false, t)
    };
    sampa_parity(&model, 5, hyper).await;
}
