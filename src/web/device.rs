//! The page's one WebGPU device: opened once ([`open_adapter`]), kept for every session,
//! and watched for loss (a driver reset, or [`destroy_device`]), so that a failed step can
//! say why.

use super::{js_err, set};
use crate::gpu::Gpu;
use js_sys::Object;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

thread_local! {
    // The page opens one device and keeps it; wasm runs on one thread.
    static GPU: RefCell<Option<Gpu>> = const { RefCell::new(None) };
    // What the browser said when it lost the device (wgpu calls back on this thread).
    static LOST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Remember why the device goes away, so that a failing step can say so.
fn watch_device(gpu: &Gpu) {
    LOST.with(|l| *l.borrow_mut() = None);
    gpu.device.set_device_lost_callback(|reason, message| {
        let why = format!("{reason:?}: {message}");
        LOST.with(|l| *l.borrow_mut() = Some(why));
    });
}

/// Why the device was lost, if it was.
#[wasm_bindgen(js_name = deviceLost)]
pub fn device_lost() -> Option<String> {
    LOST.with(|l| l.borrow().clone())
}

/// Destroy the device [`open_adapter`] opened, as a driver reset would lose it (the
/// page's test of what a lost device does to a run).
#[wasm_bindgen(js_name = destroyDevice)]
pub fn destroy_device() -> Result<(), JsValue> {
    opened()?.device.destroy();
    Ok(())
}

/// Open the browser's WebGPU adapter; resolves to `{name, backend, deviceType, driver}` or
/// rejects with a message when the browser has no WebGPU.
#[wasm_bindgen(js_name = openAdapter)]
pub async fn open_adapter() -> Result<JsValue, JsValue> {
    let instance = crate::gpu::adapters::instance();
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
        .map_err(|e| js_err(format!("no WebGPU adapter: {e}")))?;
    let gpu = Gpu::from_adapter(0, adapter).await.map_err(js_err)?;
    watch_device(&gpu);
    let info = Object::new();
    set(&info, "name", gpu.adapter.name.clone());
    set(&info, "backend", gpu.adapter.backend.clone());
    set(&info, "deviceType", gpu.adapter.device_type.clone());
    set(&info, "driver", gpu.adapter.driver.clone());
    GPU.with(|g| *g.borrow_mut() = Some(gpu));
    Ok(info.into())
}

/// The device [`open_adapter`] opened.
pub(crate) fn opened() -> Result<Gpu, JsValue> {
    GPU.with(|g| g.borrow().clone())
        .ok_or_else(|| js_err("call openAdapter() first"))
}
