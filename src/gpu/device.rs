//! An opened adapter: its device and queue, what it is, and the pipelines compiled on it.

use super::adapters::{self, AdapterSummary};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The environment variable that selects an adapter when no flag does.
pub const ADAPTER_ENV: &str = "SAMPA_ADAPTER";

/// An opened adapter: device, queue, what it is, and the pipelines compiled on it. Clones are
/// handles to the same device (a worker thread takes one).
#[derive(Clone)]
pub struct Gpu {
    /// The logical device.
    pub device: wgpu::Device,
    /// Its one queue.
    pub queue: wgpu::Queue,
    /// What the adapter is.
    pub adapter: AdapterSummary,
    /// The limits the device was opened with (the adapter's own).
    pub limits: wgpu::Limits,
    /// What the driver says about the adapter, field by field.
    pub info: wgpu::AdapterInfo,
    /// The adapter's optional features (the device enables only those it needs).
    pub adapter_features: wgpu::Features,
    pipelines: Arc<Mutex<HashMap<String, wgpu::ComputePipeline>>>,
    /// The scratch buffers dispatches share, by what they hold, with their lengths in
    /// elements (see `Gpu::scratch` in `buffer.rs`).
    pub(super) scratch: Arc<Mutex<HashMap<&'static str, (wgpu::Buffer, usize)>>>,
    /// The driver's compiled pipelines, saved between runs where the backend allows.
    #[cfg(not(target_arch = "wasm32"))]
    disk_cache: Option<Arc<super::pipeline_cache::DiskCache>>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu({})", self.adapter.short())
    }
}

impl Gpu {
    /// Open the adapter chosen by `spec` (or the best one), `origin` naming where the spec
    /// came from for error messages.
    pub async fn open(spec: Option<&str>, origin: &str) -> Result<Gpu> {
        let instance = adapters::instance();
        let all = adapters::enumerate(&instance).await;
        let (index, adapter) = adapters::select(all, spec, origin)?;
        Self::from_adapter(index, adapter).await
    }

    /// Open the adapter named by the `--adapter` flag value, or else by `SAMPA_ADAPTER`.
    pub async fn open_flag_or_env(flag: Option<&str>) -> Result<Gpu> {
        match flag {
            Some(spec) => Self::open(Some(spec), "--adapter").await,
            None => {
                let env = std::env::var(ADAPTER_ENV).ok();
                Self::open(env.as_deref(), ADAPTER_ENV).await
            }
        }
    }

    /// Open a second adapter for a worker: the one `spec` (`--adapter2`) names, or else the
    /// best adapter other than `main`; `None` when there is no other. Naming the main adapter
    /// is an error, since two devices on one adapter do not run at the same time.
    pub async fn open_other(main: &AdapterSummary, spec: Option<&str>) -> Result<Option<Gpu>> {
        let instance = adapters::instance();
        let all = adapters::enumerate(&instance).await;
        let picked = match spec {
            Some(spec) => {
                let (index, adapter) = adapters::select(all, Some(spec), "--adapter2")?;
                if index == main.index {
                    return Err(Error::Invalid(format!(
                        "--adapter2 {spec} names the main adapter ({}); name another one from \
                         `sampa devices`, or use --schedule interleaved on one adapter",
                        main.short()
                    )));
                }
                Some((index, adapter))
            }
            None => adapters::other(all, main.index),
        };
        match picked {
            Some((index, adapter)) => Ok(Some(Self::from_adapter(index, adapter).await?)),
            None => Ok(None),
        }
    }

    /// Open a device on an adapter already chosen.
    pub async fn from_adapter(index: usize, adapter: wgpu::Adapter) -> Result<Gpu> {
        let summary = AdapterSummary::of(index, &adapter);
        let limits = adapter.limits();
        // Timestamp queries only let the benchmarks time the device, a pipeline cache only
        // saves compiling on the next start, and subgroups only enable one matmul variant
        // among several; nothing needs a feature beyond WebGPU's core.
        let wanted = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::PIPELINE_CACHE
            | wgpu::Features::SUBGROUP;
        let required_features = adapter.features() & wanted;
        let desc = wgpu::DeviceDescriptor {
            label: Some("sampa"),
            required_features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = adapter
            .request_device(&desc)
            .await
            .map_err(|e| Error::Device {
                adapter: summary.name.clone(),
                message: e.to_string(),
            })?;
        #[cfg(not(target_arch = "wasm32"))]
        let disk_cache =
            super::pipeline_cache::DiskCache::open(&device, &adapter.get_info(), required_features)
                .map(Arc::new);
        Ok(Gpu {
            device,
            queue,
            adapter: summary,
            limits,
            info: adapter.get_info(),
            adapter_features: adapter.features(),
            pipelines: Arc::default(),
            scratch: Arc::default(),
            #[cfg(not(target_arch = "wasm32"))]
            disk_cache,
        })
    }

    /// Run `f` inside a validation error scope and turn a captured error into [`Error::Gpu`].
    pub fn checked<T>(&self, context: &str, f: impl FnOnce() -> T) -> Result<T> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let popped = scope.pop();
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(err) = pollster::block_on(popped) {
            return Err(Error::Gpu {
                context: context.to_string(),
                message: err.to_string(),
            });
        }
        #[cfg(target_arch = "wasm32")]
        {
            // The browser reports scoped errors asynchronously, after the caller has moved
            // on: the console gets each one with its context (a shader the browser's compiler
            // refuses, say), where otherwise it would vanish with the scope.
            let context = context.to_string();
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(err) = popped.await {
                    console_error(&format!("sampa: {context}: {err}"));
                }
            });
        }
        Ok(value)
    }

    /// A compute pipeline for `entry` in `source` with the given override constants,
    /// compiled once per device and cached. Its bind group layout is derived from the shader
    /// unless `layout` (called only when compiling) makes one.
    pub fn pipeline(
        &self,
        label: &str,
        source: &str,
        entry: &str,
        constants: &[(&str, f64)],
        layout: impl FnOnce(&wgpu::Device) -> Option<wgpu::PipelineLayout>,
    ) -> Result<wgpu::ComputePipeline> {
        // The source's address tells apart the forms of one kernel that share entry names.
        let key = format!("{label}:{entry}:{constants:?}:{:p}", source.as_ptr());
        if let Some(p) = self.pipelines.lock().expect("pipeline cache").get(&key) {
            return Ok(p.clone());
        }
        let pipeline = self.checked(&format!("compiling {label}::{entry}"), || {
            let module = self
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
            let layout = layout(&self.device);
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout: layout.as_ref(),
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants,
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: self.pipeline_cache(),
                })
        })?;
        self.pipelines
            .lock()
            .expect("pipeline cache")
            .insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// The cache compiled pipelines go into, where there is one.
    fn pipeline_cache(&self) -> Option<&wgpu::PipelineCache> {
        #[cfg(not(target_arch = "wasm32"))]
        return self.disk_cache.as_ref().map(|c| &c.cache);
        #[cfg(target_arch = "wasm32")]
        None
    }

    /// Bytes of device memory in live allocations, where the backend's allocator reports
    /// them (Vulkan, DX12, Metal; not GL or the browser).
    pub fn allocated_bytes(&self) -> Option<u64> {
        self.device
            .generate_allocator_report()
            .map(|r| r.total_allocated_bytes)
    }

    /// The bytes of the largest buffer a kernel can bind whole on this device: what
    /// [`Gpu::check_size`] allows.
    pub fn largest_buffer(&self) -> u64 {
        self.limits
            .max_buffer_size
            .min(self.limits.max_storage_buffer_binding_size)
    }

    /// Check that a buffer of `bytes` bytes fits this device, naming `what` in the error.
    pub fn check_size(&self, what: &str, bytes: u64) -> Result<()> {
        let too_large = |limit: u64, limit_name| Error::TooLarge {
            what: what.to_string(),
            bytes,
            limit,
            limit_name,
            adapter: self.adapter.name.clone(),
        };
        if bytes > self.limits.max_buffer_size {
            return Err(too_large(self.limits.max_buffer_size, "max_buffer_size"));
        }
        let binding = self.limits.max_storage_buffer_binding_size;
        if bytes > binding {
            return Err(too_large(binding, "max_storage_buffer_binding_size"));
        }
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The browser console's `console.error` (the web module's panic report writes there too).
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    pub(crate) fn console_error(message: &str);
}
