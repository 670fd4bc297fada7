//! The browser demo's entry points (wasm-bindgen): the visitor's WebGPU device ([`device`]),
//! the quadratic toy ([`toy`], `web/main.js`), the benchmark suite's browser part ([`bench`],
//! `web/bench.js`), and training on the page ([`train`], `web/train.js`), all with the same
//! WGSL kernels as the native build. This file holds what they share.

mod bench;
mod device;
mod toy;
mod train;

use crate::gpu::device::console_error;
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

pub(crate) fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

pub(crate) fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    // Setting a plain property on a fresh object cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

#[wasm_bindgen]
extern "C" {
    /// The page's report of a panic (`web/common.js`), when it has one.
    #[wasm_bindgen(js_namespace = globalThis, js_name = sampaPanicked, catch)]
    fn page_panicked(message: &str) -> Result<(), JsValue>;
}

/// Installed when the module loads: a panic aborts the module (the `web` profile), which the
/// browser reports only as "unreachable"; the hook first writes the panic's message to the
/// console and hands it to the page, which says it stopped and why.
#[wasm_bindgen(start)]
fn report_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = format!("sampa panicked: {info}");
        console_error(&message);
        let _ = page_panicked(&message);
    }));
}
