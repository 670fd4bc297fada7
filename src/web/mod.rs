//! The browser demo's entry points (wasm-bindgen): the visitor's WebGPU device ([`device`]),
//! the quadratic toy ([`toy`], `web/main.js`), the benchmark suite's browser part ([`bench`],
//! `web/bench.js`), and training on the page ([`train`], `web/train.js`), all with the same
//! WGSL kernels as the native build. This file holds what they share.

mod bench;
mod device;
mod toy;
mod train;

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

pub(crate) fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

pub(crate) fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    // Setting a plain property on a fresh object cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}
