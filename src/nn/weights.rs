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

/// `model`'s non-trainable state from the flat vector `state` under PyTorch's buffer names:
/// running means and variances as f32, `num_batches_tracked` as the int64 scalar PyTorch
/// keeps, so `load_state_dict(..., strict=True)` takes the file.
pub fn state_tensors(model: &Model, state: &[f32]) -> Vec<Tensor> {
    let tensor = |p: &super::Param| {
        let values = &state[p.offset..p.offset + p.len()];
        if p.name.ends_with("num_batches_tracked") {
            let counts: Vec<i64> = values.iter().map(|&v| v as i64).collect();
            Tensor {
                name: p.name.clone(),
                shape: p.shape.clone(),
                dtype: Dtype::I64,
                data: bytemuck::cast_slice(&counts).to_vec(),
            }
        } else {
            f32s(&p.name, p.shape.clone(), values)
        }
    };
    model.state.iter().map(tensor).collect()
}

/// The safetensors file of `tensors` with the header metadata `meta`, the same bytes for the
/// same tensors and metadata.
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
    Ok(sorted_header(safetensors::serialize(views, meta)?))
}

/// `file` with its JSON header's keys in sorted order. safetensors writes the metadata from a
/// HashMap, whose order changes from process to process, so two runs that computed the same
/// bits would write different files. The header is padded to a multiple of 8 bytes with
/// spaces, as safetensors pads it; the tensor data after it is unchanged, and its offsets are
/// relative to the data, so they stay right.
fn sorted_header(file: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(file[..8].try_into().expect("8 bytes")) as usize;
    // serde_json's maps are sorted by key (the crate's preserve_order feature is off).
    let header: serde_json::Value =
        serde_json::from_slice(&file[8..8 + n]).expect("safetensors wrote valid JSON");
    let mut text = serde_json::to_vec(&header).expect("JSON serialises");
    text.resize(text.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::with_capacity(8 + text.len() + file.len() - 8 - n);
    out.extend((text.len() as u64).to_le_bytes());
    out.extend(text);
    out.extend(&file[8 + n..]);
    out
}

/// `model`'s parameters `params` and state `state` (empty for models without any) as a
/// safetensors file (what `sampa train --init` reads), described by `info` in its metadata.
pub fn to_safetensors(
    model: &Model,
    (params, state): (&[f32], &[f32]),
    info: &super::model_info::ModelInfo,
) -> crate::Result<Vec<u8>> {
    if state.len() != model.state_count() {
        return Err(crate::Error::shape(
            "weights",
            format!(
                "{} has {} state values, got {}",
                model.name,
                model.state_count(),
                state.len()
            ),
        ));
    }
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
    let mut tensors = model_tensors(model, params);
    tensors.extend(state_tensors(model, state));
    serialize(&tensors, Some(info.metadata(&model.name)))
        .map_err(|e| crate::Error::Invalid(format!("cannot serialise the weights: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_tensors_and_metadata_give_the_same_bytes() {
        let tensors = [f32s("b", vec![2], &[1.0, 2.0]), u32s("a", &[7, 8, 9])];
        let meta = |order: &[(&str, &str)]| {
            let m: HashMap<String, String> = order
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            serialize(&tensors, Some(m)).unwrap()
        };
        let pairs = [
            ("model", "mlp"),
            ("kind", "x"),
            ("format", "f"),
            ("z", "1"),
            ("a", "2"),
        ];
        let first = meta(&pairs);
        let mut reversed = pairs;
        reversed.reverse();
        // Many maps, each with its own random iteration order: one file.
        for _ in 0..20 {
            assert!(meta(&reversed) == first);
        }
        let header_len = u64::from_le_bytes(first[..8].try_into().unwrap());
        assert_eq!(header_len % 8, 0);
        let st = safetensors::SafeTensors::deserialize(&first).unwrap();
        assert_eq!(
            st.tensor("b").unwrap().data(),
            bytemuck::cast_slice::<f32, u8>(&[1.0, 2.0])
        );
        let (_, header) = safetensors::SafeTensors::read_metadata(&first).unwrap();
        assert_eq!(header.metadata().as_ref().unwrap()["z"], "1");
    }
}
