//! Adapter discovery, description and selection.
//!
//! Selection follows one small grammar, shared by `--adapter` and `SAMPA_ADAPTER`:
//! an index as printed by `sampa devices` (`1` or `#1`), a backend name (`vulkan`, `gl`,
//! `metal`, `dx12`, `browser`), a case-insensitive name substring (`llvmpipe`), or
//! `backend:name` to combine the last two. Without a selection the best adapter wins:
//! discrete, then integrated, then virtual, then CPU.

use crate::error::{Error, Result};

/// What `sampa devices` shows about one adapter.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
pub struct AdapterSummary {
    /// Position in the enumeration order (stable for one machine and driver set).
    pub index: usize,
    /// Backend name: Vulkan, Gl, Metal, Dx12, BrowserWebGpu.
    pub backend: String,
    /// Discrete, integrated, virtual, CPU or other.
    pub device_type: String,
    /// Adapter name as the driver reports it.
    pub name: String,
    /// Driver name and version.
    pub driver: String,
    /// Largest buffer the adapter can create, bytes.
    pub max_buffer_size: u64,
    /// Largest storage-buffer binding, bytes.
    pub max_storage_binding: u64,
    /// Workgroup memory, bytes.
    pub max_workgroup_storage: u32,
    /// Invocations per workgroup.
    pub max_invocations: u32,
    /// Storage buffers per shader stage.
    pub max_storage_buffers: u32,
    /// Whether GPU timestamp queries are available.
    pub timestamp_query: bool,
    /// Whether subgroup operations are available.
    pub subgroups: bool,
    /// Whether f16 in shaders is available.
    pub shader_f16: bool,
}

impl AdapterSummary {
    /// Describe `adapter`, found at `index` in the enumeration.
    pub fn of(index: usize, adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let features = adapter.features();
        let driver = match (info.driver.is_empty(), info.driver_info.is_empty()) {
            (false, false) => format!("{} {}", info.driver, info.driver_info),
            (false, true) => info.driver.clone(),
            (true, false) => info.driver_info.clone(),
            (true, true) => "-".to_string(),
        };
        AdapterSummary {
            index,
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            name: info.name.clone(),
            driver,
            max_buffer_size: limits.max_buffer_size,
            max_storage_binding: limits.max_storage_buffer_binding_size,
            max_workgroup_storage: limits.max_compute_workgroup_storage_size,
            max_invocations: limits.max_compute_invocations_per_workgroup,
            max_storage_buffers: limits.max_storage_buffers_per_shader_stage,
            timestamp_query: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
        }
    }

    /// Whether the adapter is a CPU rasteriser (llvmpipe, SwiftShader, WARP), whose shader
    /// loops and workgroup counts have limits of their own.
    pub fn is_cpu(&self) -> bool {
        self.device_type == "Cpu"
    }

    /// One line: `#1 Vulkan Cpu "llvmpipe ..."`.
    pub fn short(&self) -> String {
        format!(
            "#{} {} {} {:?}",
            self.index, self.backend, self.device_type, self.name
        )
    }

    /// A key that identifies this adapter and driver across runs (for cached tuning).
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.backend, self.name, self.driver)
    }
}

/// Higher is better: discrete GPUs first, CPU rasterisers last.
fn rank(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    }
}

fn backend_of(word: &str) -> Option<wgpu::Backend> {
    match word.to_ascii_lowercase().as_str() {
        "vulkan" | "vk" => Some(wgpu::Backend::Vulkan),
        "gl" | "gles" | "opengl" => Some(wgpu::Backend::Gl),
        "metal" => Some(wgpu::Backend::Metal),
        "dx12" | "d3d12" => Some(wgpu::Backend::Dx12),
        "browser" | "webgpu" => Some(wgpu::Backend::BrowserWebGpu),
        _ => None,
    }
}

/// The instance every adapter comes from: all backends, or those `WGPU_BACKEND` names (wgpu's
/// own variable, for example `vulkan` or `gl`); no window.
pub fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
    wgpu::Instance::new(desc)
}

/// Every adapter on every backend, in enumeration order.
pub async fn enumerate(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    instance.enumerate_adapters(wgpu::Backends::all()).await
}

/// Pick one adapter from `adapters` by `spec` (see the module docs), or the best one when
/// `spec` is `None`. `origin` names the flag or variable the spec came from, for the error.
pub fn select(
    adapters: Vec<wgpu::Adapter>,
    spec: Option<&str>,
    origin: &str,
) -> Result<(usize, wgpu::Adapter)> {
    if adapters.is_empty() {
        return Err(Error::NoAdapter);
    }
    let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
    let pick = match spec.map(str::trim).filter(|s| !s.is_empty()) {
        None => best(&infos, |_| true),
        Some(spec) => matching(&infos, spec),
    };
    match pick {
        Some(i) => Ok((
            i,
            adapters.into_iter().nth(i).expect("index from enumerate"),
        )),
        None => Err(Error::AdapterNotFound {
            spec: spec.unwrap_or_default().to_string(),
            origin: origin.to_string(),
            available: describe(&adapters),
        }),
    }
}

/// The best adapter other than the one at `exclude`, if any.
pub fn other(adapters: Vec<wgpu::Adapter>, exclude: usize) -> Option<(usize, wgpu::Adapter)> {
    let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
    let i = (0..infos.len())
        .filter(|&i| i != exclude)
        .max_by_key(|&i| (rank(infos[i].device_type), std::cmp::Reverse(i)))?;
    adapters.into_iter().nth(i).map(|a| (i, a))
}

fn matching(infos: &[wgpu::AdapterInfo], spec: &str) -> Option<usize> {
    let index = spec.strip_prefix('#').unwrap_or(spec);
    if let Ok(i) = index.parse::<usize>() {
        return (i < infos.len()).then_some(i);
    }
    let (backend, name) = match spec.split_once(':') {
        Some((b, n)) => (Some(backend_of(b)?), n.to_ascii_lowercase()),
        None => match backend_of(spec) {
            Some(b) => (Some(b), String::new()),
            None => (None, spec.to_ascii_lowercase()),
        },
    };
    best(infos, |info| {
        backend.is_none_or(|b| info.backend == b) && info.name.to_ascii_lowercase().contains(&name)
    })
}

fn best(infos: &[wgpu::AdapterInfo], keep: impl Fn(&wgpu::AdapterInfo) -> bool) -> Option<usize> {
    // Ties keep enumeration order, so Vulkan (enumerated first) beats GL on the same device.
    infos
        .iter()
        .enumerate()
        .filter(|(_, info)| keep(info))
        .max_by_key(|(i, info)| (rank(info.device_type), std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
}

/// "#0 Vulkan Cpu "llvmpipe", #1 Gl ..." or "none".
pub fn describe(adapters: &[wgpu::Adapter]) -> String {
    if adapters.is_empty() {
        return "none".to_string();
    }
    adapters
        .iter()
        .enumerate()
        .map(|(i, a)| AdapterSummary::of(i, a).short())
        .collect::<Vec<_>>()
        .join(", ")
}
