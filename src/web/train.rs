//! Training in the browser (`web/train.html`): the gzipped IDX files the page fetched,
//! decoded here once ([`TrainData`]), and a [`TrainSession`] that trains the chosen optimizers
//! on them one after another with the native build's kernels, programs and schedules
//! (`crate::train::session`), a few steps per call so that the page stays responsive.

use super::device::{device_lost, opened};
use super::{js_err, set};
use crate::data::Splits;
use crate::gpu::Gpu;
use crate::kernels::Kernels;
use crate::train::session::{GRID, Session, Settings, settings};
use js_sys::Object;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// A step's error, with the device's loss when that is the cause.
fn step_error(e: crate::Error) -> JsValue {
    match device_lost() {
        Some(why) => js_err(format!("the GPU device was lost ({why}); {e}")),
        None => js_err(e),
    }
}

/// The data set, decoded from its four gzipped IDX files.
#[wasm_bindgen]
pub struct TrainData {
    splits: Rc<Splits>,
}

#[wasm_bindgen]
impl TrainData {
    /// Decode train images, train labels, test images and test labels (gzipped IDX bytes)
    /// fetched from `origin` (named in errors).
    #[wasm_bindgen(constructor)]
    pub fn new(
        origin: &str,
        train_images: &[u8],
        train_labels: &[u8],
        test_images: &[u8],
        test_labels: &[u8],
    ) -> Result<TrainData, JsValue> {
        let files = [train_images, train_labels, test_images, test_labels];
        let splits =
            crate::data::idx::from_gz(origin, files, "Fashion-MNIST subset").map_err(js_err)?;
        Ok(TrainData {
            splits: Rc::new(splits),
        })
    }

    /// What was loaded.
    #[wasm_bindgen(getter)]
    pub fn description(&self) -> String {
        self.splits.description.clone()
    }

    /// `{width, height, channels, pixels: Uint8Array, labels: Uint32Array}` of the first test
    /// images, those whose predictions each epoch reports.
    #[wasm_bindgen(js_name = gridImages)]
    pub fn grid_images(&self) -> Object {
        let test = &self.splits.test;
        let n = GRID.min(test.len());
        let o = Object::new();
        set(&o, "width", test.shape.width as f64);
        set(&o, "height", test.shape.height as f64);
        set(&o, "channels", test.shape.channels as f64);
        let pixels: Vec<u8> = (0..n).flat_map(|i| test.image(i).to_vec()).collect();
        set(&o, "pixels", js_sys::Uint8Array::from(pixels.as_slice()));
        set(&o, "labels", js_sys::Uint32Array::from(&test.labels[..n]));
        o
    }
}

/// The settings of a query string as the page's form shows them (JSON: model, hidden,
/// optimizers, epochs, batch, lr, base, momentum, betas, eps, wd, no-wd-1d, rho, lambda,
/// vasso-theta and m-sharpness (null without), variants (the variants' own settings the query
/// gave, by name), seed, schedule); rejects with a message naming a bad parameter.
#[wasm_bindgen(js_name = parseSettings)]
pub fn parse_settings(query: &str) -> Result<String, JsValue> {
    let s = Settings::from_query(query).map_err(js_err)?;
    let ids: Vec<String> = s.optimizers.iter().map(settings::id).collect();
    let hidden: Vec<String> = s.hidden.iter().map(|w| w.to_string()).collect();
    // f32 values as their shortest decimal (0.05, not 0.05000000074505806).
    let f = |v: f32| v.to_string();
    let form = serde_json::json!({
        "model": s.model, "hidden": hidden.join(","), "optimizers": ids.join(","),
        "epochs": s.epochs, "batch": s.batch, "lr": f(s.lr), "base": s.base.kind.name(),
        "bases": crate::optim::BaseKind::ALL.map(|b| b.name()),
        "momentum": f(s.base.momentum), "betas": format!("{},{}", s.base.betas[0], s.base.betas[1]),
        "eps": f(s.base.eps), "wd": f(s.base.weight_decay), "no-wd-1d": s.no_wd_1d, "rho": f(s.rho), "lambda": f(s.lambda), "seed": s.seed,
        "schedule": s.schedule.name(), "vasso-theta": s.vasso_theta.map(f),
        "m-sharpness": s.m_sharpness,
        "variants": s.variants.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
    });
    Ok(form.to_string())
}

/// The page's data: Fashion-MNIST's 28×28 grey images of 10 classes (what [`warm_up`]
/// assumes before the data has loaded; other data would only leave kernels to compile later).
const PAGE_IMAGES: crate::data::ImageShape = crate::data::ImageShape {
    channels: 1,
    height: 28,
    width: 28,
};
const PAGE_CLASSES: usize = 10;

/// Compile the kernels a session of the settings in `query` will use, while the data loads
/// (`crate::train::session::warm_up`); resolves when done, rejects on a bad setting.
#[wasm_bindgen(js_name = warmUp)]
pub async fn warm_up(query: String) -> Result<(), JsValue> {
    let gpu = opened()?;
    let settings = Settings::from_query(&query).map_err(js_err)?;
    let model =
        crate::nn::Model::for_images(&settings.model, &settings.hidden, PAGE_IMAGES, PAGE_CLASSES)
            .map_err(js_err)?;
    let kernels = Kernels::unmeasured(gpu.info.device_type);
    crate::train::session::warm_up(&gpu, &settings, &model, kernels)
        .await
        .map_err(step_error)
}

/// One comparison: every optimizer of the settings, trained in turn.
#[wasm_bindgen]
pub struct TrainSession {
    /// Taken out while an advance runs (never borrowed across an await).
    inner: Rc<RefCell<Option<Session>>>,
    gpu: Gpu,
}

#[wasm_bindgen]
impl TrainSession {
    /// A session of the settings in `query` on `data`, on the adapter
    /// [`super::device::open_adapter`] opened; rejects when a setting is bad or the model does not
    /// fit the adapter's limits, saying what does not fit.
    #[wasm_bindgen(constructor)]
    pub fn new(query: &str, data: &TrainData) -> Result<TrainSession, JsValue> {
        let gpu = opened()?;
        let settings = Settings::from_query(query).map_err(js_err)?;
        let kernels = Kernels::unmeasured(gpu.info.device_type);
        let session = Session::new(settings, (*data.splits).clone(), kernels).map_err(js_err)?;
        session
            .check_fits(&gpu)
            .map_err(|e| js_err(format!("this adapter cannot train these settings: {e}")))?;
        Ok(TrainSession {
            inner: Rc::new(RefCell::new(Some(session))),
            gpu,
        })
    }

    /// Up to `steps` more steps (or the next optimizer's start); resolves to the JSON array
    /// of the events (`started`, `step`, `epoch`, `finished`).
    pub fn advance(&self, steps: usize) -> js_sys::Promise {
        let (inner, gpu) = (self.inner.clone(), self.gpu.clone());
        wasm_bindgen_futures::future_to_promise(async move {
            let mut session = inner
                .borrow_mut()
                .take()
                .ok_or_else(|| js_err("an advance is already running"))?;
            let result = session.advance(&gpu, steps).await;
            *inner.borrow_mut() = Some(session);
            let events = result.map_err(step_error)?;
            Ok(serde_json::to_string(&events).map_err(js_err)?.into())
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Session) -> T) -> Result<T, JsValue> {
        let s = self.inner.borrow();
        let s = s.as_ref().ok_or_else(|| js_err("an advance is running"))?;
        Ok(f(s))
    }

    /// Whether every optimizer has finished.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> Result<bool, JsValue> {
        self.with(Session::done)
    }

    /// The finished runs as JSON: optimizer, label, schedule, steps, grads, depth,
    /// ms_per_step, examples_per_s, epochs.
    pub fn finished(&self) -> Result<String, JsValue> {
        self.with(|s| serde_json::to_string(s.finished()).map_err(js_err))?
    }

    /// The model's description and parameter count: `mlp 784-256-256-10 (269322 parameters)`.
    #[wasm_bindgen(getter)]
    pub fn model(&self) -> Result<String, JsValue> {
        self.with(|s| {
            format!(
                "{} ({} parameters)",
                s.model().name,
                s.model().param_count()
            )
        })
    }

    /// Finished run `run`'s trained parameters as a safetensors file with PyTorch names, the
    /// format `sampa train` writes and `sampa train --init` reads.
    pub fn weights(&self, run: usize) -> Result<Vec<u8>, JsValue> {
        self.with(|s| {
            let f = s
                .finished()
                .get(run)
                .ok_or_else(|| js_err(format!("run {run} has not finished")))?;
            crate::nn::weights::to_safetensors(s.model(), (&f.params, &[]), &s.model_info())
                .map_err(js_err)
        })?
    }
}
