//! Parameters as safetensors files with PyTorch names, written atomically.

use crate::error::{Error, Result};
use crate::nn::Model;
use std::path::Path;

/// Write `params` (laid out as `model.params`) to `path` as f32 safetensors.
pub fn save(model: &Model, params: &[f32], path: &Path) -> Result<()> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = model
        .params
        .iter()
        .map(|p| {
            let data = bytemuck::cast_slice(&params[p.offset..p.offset + p.len()]).to_vec();
            (p.name.clone(), data, p.shape.clone())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(n, d, s)| {
            let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                .expect("shape matches data");
            (n.clone(), v)
        })
        .collect();
    let out = safetensors::serialize(views, None)
        .map_err(|e| Error::data(path, format!("cannot serialise parameters: {e}")))?;
    crate::fsutil::write_atomic(path, &out)
        .map_err(|e| Error::data(path, format!("cannot write: {e}")))
}

/// Read parameters for `model` from `path`: every tensor must be present, f32, and of the
/// model's shape. Extra tensors are an error too, since they mean a different model.
pub fn load(model: &Model, path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::data(path, format!("is not a safetensors file ({e})")))?;
    let mut x = vec![0.0f32; model.param_count()];
    for p in &model.params {
        let t = st.tensor(&p.name).map_err(|_| {
            Error::data(
                path,
                format!(
                    "has no tensor {:?}; {} needs {}",
                    p.name,
                    model.name,
                    names(model)
                ),
            )
        })?;
        if t.dtype() != safetensors::Dtype::F32 || t.shape() != p.shape.as_slice() {
            return Err(Error::data(
                path,
                format!(
                    "tensor {:?} is {:?} {:?}; {} needs F32 {:?}",
                    p.name,
                    t.dtype(),
                    t.shape(),
                    model.name,
                    p.shape
                ),
            ));
        }
        let dst = &mut x[p.offset..p.offset + p.len()];
        for (d, c) in dst.iter_mut().zip(t.data().chunks_exact(4)) {
            *d = f32::from_le_bytes(c.try_into().expect("4 bytes"));
        }
    }
    if let Some(extra) = st.names().into_iter().find(|n| model.param(n).is_none()) {
        return Err(Error::data(
            path,
            format!(
                "has tensor {extra:?}, which {} does not have ({})",
                model.name,
                names(model)
            ),
        ));
    }
    Ok(x)
}

fn names(model: &Model) -> String {
    model
        .params
        .iter()
        .map(|p| format!("{} {:?}", p.name, p.shape))
        .collect::<Vec<_>>()
        .join(", ")
}
