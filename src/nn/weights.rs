//! A model's parameters as safetensors bytes under their PyTorch names (`fc1.weight`, ...):
//! what `sampa train` writes as `model.safetensors` and the browser page offers for download,
//! so both give the same file for the same parameters.

use super::Model;
use safetensors::{Dtype, tensor::TensorView};
use std::collections::HashMap;

/// One named tensor's bytes, ready to serialise.
pub struct Tensor {
    /// The tensor's name in the file.
    pub name: String,
    /// Its element type.
    pub dtype: Dtype,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its little-endian bytes.
    pub data: Vec<u8>,
}

/// An f32 tensor named `name` of `shape` holding `v`.
pub fn f32s(name: &str, shape: Vec<usize>, v: &[f32]) -> Tensor {
    Tensor {
        name: name.into(),
        dtype: Dtype::F32,
        shape,
        data: bytemuck::cast_slice(v).to_vec(),
    }
}

/// A one-dimensional u32 tensor named `name` holding `v`.
pub fn u32s(name: &str, v: &[u32]) -> Tensor {
    Tensor {
        name: name.into(),
        dtype: Dtype::U32,
        shape: vec![v.len()],
        data: bytemuck::cast_slice(v).to_vec(),
    }
}

/// `model`'s parameters from the flat vector `params`, one tensor per parameter.
pub fn model_tensors(model: &Model, params: &[f32]) -> Vec<Tensor> {
    let tensor = |p: &super::Param| {
        f32s(
            &p.name,
            p.shape.clone(),
            &params[p.offset..p.offset + p.len()],
        )
    };
    model.params.iter().map(tensor).collect()
}

/// The safetensors file of `tensors` with the header metadata `meta`.
pub fn serialize(
    tensors: &[Tensor],
    meta: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|t| {
            let v = TensorView::new(t.dtype, t.shape.clone(), &t.data).expect("shape matches data");
            (t.name.clone(), v)
        })
        .collect();
    safetensors::serialize(views, meta)
}

/// `model`'s parameters `params` as a safetensors file (what `sampa train --init` reads),
/// described by `info` in its metadata.
pub fn to_safetensors(
    model: &Model,
    params: &[f32],
    info: &super::model_info::ModelInfo,
) -> crate::Result<Vec<u8>> {
    if params.len() != model.param_count() {
        return Err(crate::Error::shape(
            "weights",
            format!(
                "{} has {} parameters, got {}",
                model.name,
                model.param_count(),
                params.len()
            ),
        ));
    }
    serialize(
        &model_tensors(model, params),
        Some(info.metadata(&model.name)),
    )
    .map_err(|e| crate::Error::Invalid(format!("cannot serialise the weights: {e}")))
}
