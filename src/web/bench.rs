//! The benchmark suite in the browser (`web/bench.html`): the parts that apply on one
//! adapter (matmul, bandwidth, dispatch, transfer, the MLP's training steps under the
//! single-adapter schedules, the toy), prepared and sampled by the same code as natively, into a
//! report of the same schema that `sampa bench compare` reads beside a native one.

use super::device::opened;
use super::js_err;
use crate::bench::plan::{self, Settings};
use crate::bench::rounds::{self, Method};
use crate::bench::schema::{AdapterRecord, Host, Report, SCHEMA};
use crate::kernels::Kernels;
use std::collections::BTreeMap;
use wasm_bindgen::prelude::*;

/// What the page knows about its browser and adapter, as JSON:
/// `{date, userAgent, cpus, adapterInfo: {vendor, architecture, device, description, ...}}`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    date: String,
    user_agent: String,
    cpus: usize,
    #[serde(default)]
    adapter_info: BTreeMap<String, String>,
}

/// Run the browser's suite (`quick`: the short one; `only`: a comma list of parts, empty for
/// all) on the adapter [`super::device::open_adapter`] opened; `progress(done, total, case)`
/// hears each sample; resolves to the report as JSON.
#[wasm_bindgen(js_name = runBench)]
pub async fn run_bench(
    quick: bool,
    only: String,
    page: String,
    progress: js_sys::Function,
) -> Result<String, JsValue> {
    let gpu = opened()?;
    let page: PageInfo =
        serde_json::from_str(&page).map_err(|e| js_err(format!("page info: {e}")))?;
    let mut settings = Settings::new(quick);
    // The CNN's steps take minutes on a software adapter, and the embedded data set is not in
    // the page: the browser's suite steps the MLP and has no time-to-accuracy part.
    settings.models = vec!["mlp".into()];
    settings.parts.retain(|p| p != "time_to_accuracy");
    let only: Vec<&str> = only
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(bad) = only.iter().find(|p| !settings.runs(p)) {
        return Err(js_err(format!(
            "only={bad}: the browser runs {}",
            settings.parts.join(", ")
        )));
    }
    if !only.is_empty() {
        settings.parts.retain(|p| only.contains(&p.as_str()));
    }
    let method = Method::suite(quick);
    let (cases, failed) = plan::cases(&gpu, 0, Kernels::GPU, &settings);
    let total = cases.len() * (1 + method.rounds);
    let mut done = 0;
    let mut results = rounds::measure(&gpu, cases, method, |case| {
        done += 1;
        let _ = progress.call3(
            &JsValue::NULL,
            &(done as f64).into(),
            &(total as f64).into(),
            &case.into(),
        );
    })
    .await;
    results.extend(failed);
    rounds::derive(&mut results);
    let mut adapter = AdapterRecord::of(&gpu);
    if adapter.name.is_empty() {
        // WebGPU hides the name from wgpu; the page's GPUAdapterInfo has what the browser tells.
        let i = &page.adapter_info;
        let parts = ["vendor", "architecture", "device", "description"];
        let words: Vec<&str> = parts
            .iter()
            .filter_map(|k| i.get(*k).map(String::as_str))
            .collect();
        adapter.name = words.join(" ");
    }
    adapter.browser_info = page.adapter_info;
    let report = Report {
        schema: SCHEMA.to_string(),
        sampa_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: env!("SAMPA_GIT_COMMIT").to_string(),
        date: page.date,
        host: Host {
            os: page.user_agent,
            arch: "wasm32".to_string(),
            cpu: "unknown (browser)".to_string(),
            cpus: page.cpus,
            env: BTreeMap::new(),
        },
        mode: if quick { "quick" } else { "full" }.to_string(),
        adapters: vec![adapter],
        results,
    };
    serde_json::to_string_pretty(&report).map_err(js_err)
}
