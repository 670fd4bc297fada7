//! An adapter as a report records it: every `AdapterInfo` field, the limits the kernels
//! depend on, and the optional features.

use super::schema::AdapterRecord;
use crate::gpu::Gpu;
use std::collections::BTreeMap;

impl AdapterRecord {
    /// Describe the adapter `gpu` was opened on.
    pub fn of(gpu: &Gpu) -> AdapterRecord {
        let l = &gpu.limits;
        let limits: BTreeMap<String, u64> = [
            ("max_buffer_size", l.max_buffer_size),
            (
                "max_storage_buffer_binding_size",
                l.max_storage_buffer_binding_size,
            ),
            (
                "max_storage_buffers_per_shader_stage",
                l.max_storage_buffers_per_shader_stage as u64,
            ),
            (
                "max_compute_workgroup_storage_size",
                l.max_compute_workgroup_storage_size as u64,
            ),
            (
                "max_compute_invocations_per_workgroup",
                l.max_compute_invocations_per_workgroup as u64,
            ),
            (
                "max_compute_workgroups_per_dimension",
                l.max_compute_workgroups_per_dimension as u64,
            ),
            (
                "max_texture_dimension_2d",
                l.max_texture_dimension_2d as u64,
            ),
            (
                "max_texture_array_layers",
                l.max_texture_array_layers as u64,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let info = &gpu.info;
        AdapterRecord {
            index: gpu.adapter.index,
            name: info.name.clone(),
            vendor: info.vendor,
            device: info.device,
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            backend: format!("{:?}", info.backend),
            limits,
            features: gpu
                .adapter_features
                .iter_names()
                .map(|(n, _)| n.to_string())
                .collect(),
            browser_info: BTreeMap::new(),
        }
    }
}
