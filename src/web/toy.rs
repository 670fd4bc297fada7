//! The quadratic toy on the page (`web/main.js`): every chosen method with the same WGSL
//! kernels as the native build, a few steps at a time so the page can draw while the GPU works,
//! and the f64 reference to compare against.

use super::device::opened;
use super::{js_err, set};
use crate::gpu::Gpu;
use crate::toy::gpu::ToyRun;
use crate::toy::{Method, ToyConfig, Trace};
use js_sys::{Array, Float64Array, Object};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// One experiment: every chosen method on the same toy, advanced together.
#[wasm_bindgen]
pub struct ToySession {
    /// Taken out while an advance runs (never held across an await).
    inner: Rc<RefCell<Option<Vec<ToyRun>>>>,
    gpu: Gpu,
    steps: usize,
}

#[wasm_bindgen]
impl ToySession {
    /// Prepare `methods` (comma list: gd, sam, sampa-<λ>, randsam, optsam) on the toy with
    /// step η, radius ρ, `steps` steps from `x0`, curvatures `curvature` (empty: ‖x‖²),
    /// normalised or not, RandSAM seeded by `seed`. Needs [`super::device::open_adapter`] first.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        methods: &str,
        eta: f64,
        rho: f64,
        steps: usize,
        x0: Vec<f64>,
        curvature: Vec<f64>,
        unnormalized: bool,
        seed: u32,
    ) -> Result<ToySession, JsValue> {
        let gpu = opened()?;
        let config = toy_config(eta, rho, steps, x0, curvature, unnormalized, seed);
        let runs = methods
            .split(',')
            .filter(|m| !m.trim().is_empty())
            .map(|m| ToyRun::new(&gpu, Method::parse(m)?, &config))
            .collect::<crate::Result<Vec<_>>>()
            .map_err(js_err)?;
        Ok(ToySession {
            inner: Rc::new(RefCell::new(Some(runs))),
            gpu,
            steps,
        })
    }

    /// Run up to `n` more steps of every method; resolves to an array of
    /// `{method, done, gradNormSq: Float64Array, loss: Float64Array, points: Float64Array}`.
    pub fn advance(&self, n: usize) -> js_sys::Promise {
        let (runs, gpu) = (self.inner.clone(), self.gpu.clone());
        wasm_bindgen_futures::future_to_promise(async move {
            let out = Array::new();
            // One advance at a time: the page awaits each before asking for the next.
            let mut taken = runs
                .borrow_mut()
                .take()
                .ok_or_else(|| js_err("an advance is already running"))?;
            let mut result = Ok(());
            for run in taken.iter_mut() {
                match run.advance(&gpu, n).await {
                    Ok(t) => {
                        out.push(&trace_object(&t, run.done()));
                    }
                    Err(e) => {
                        result = Err(js_err(e));
                        break;
                    }
                }
            }
            *runs.borrow_mut() = Some(taken);
            result.map(|_| out.into())
        })
    }

    /// Steps each method will take.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> usize {
        self.steps
    }
}

fn toy_config(
    eta: f64,
    rho: f64,
    steps: usize,
    x0: Vec<f64>,
    curvature: Vec<f64>,
    unnormalized: bool,
    seed: u32,
) -> ToyConfig {
    ToyConfig {
        eta,
        rho,
        steps,
        x0,
        seed: seed as u64,
        unnormalized,
        curvature,
    }
}

fn trace_object(t: &Trace, done: usize) -> Object {
    let o = Object::new();
    set(&o, "method", t.method.name());
    set(&o, "done", done as f64);
    set(
        &o,
        "gradNormSq",
        Float64Array::from(t.grad_norm_sq.as_slice()),
    );
    set(&o, "loss", Float64Array::from(t.loss.as_slice()));
    set(&o, "points", Float64Array::from(t.points.as_slice()));
    o
}

/// ‖∇f‖² of `method` on the toy in f64 (the reference the page can compare against).
#[wasm_bindgen(js_name = referenceGradNormSq)]
#[allow(clippy::too_many_arguments)]
pub fn reference_grad_norm_sq(
    method: &str,
    eta: f64,
    rho: f64,
    steps: usize,
    x0: Vec<f64>,
    curvature: Vec<f64>,
    unnormalized: bool,
    seed: u32,
) -> Result<Float64Array, JsValue> {
    let config = toy_config(eta, rho, steps, x0, curvature, unnormalized, seed);
    let t = crate::toy::run_cpu(Method::parse(method).map_err(js_err)?, &config).map_err(js_err)?;
    Ok(Float64Array::from(t.grad_norm_sq.as_slice()))
}
