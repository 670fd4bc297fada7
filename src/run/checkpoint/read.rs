//! Reading tensors back from a parsed safetensors file, each check naming the file and the
//! tensor.

use crate::error::{Error, Result};
use crate::nn::{Model, Param};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::collections::HashMap;
use std::path::Path;

/// The whole file at `path`.
pub(super) fn bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))
}

/// The shape of each tensor in the safetensors file at `path`, from its header alone (a
/// checkpoint can be gigabytes; its header is the first kilobytes). The header's length is
/// checked against the file's and safetensors' 100 MB limit before it is read.
pub(crate) fn header_shapes(path: &Path) -> Result<HashMap<String, Vec<usize>>> {
    use std::io::Read;
    let bad = |what: String| Error::data(path, format!("is not a safetensors file ({what})"));
    let mut file =
        std::fs::File::open(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))?;
    let size = file.metadata().map_or(0, |m| m.len());
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| bad("shorter than the 8 bytes that give its header's length".into()))?;
    let len = u64::from_le_bytes(len);
    if len > 100_000_000 || len.saturating_add(8) > size {
        return Err(bad(format!("a header of {len} bytes in a file of {size}")));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header)
        .map_err(|e| Error::data(path, format!("cannot read: {e}")))?;
    let json: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| bad(format!("its header is not JSON: {e}")))?;
    let tensors = json
        .as_object()
        .ok_or_else(|| bad("its header is not a JSON object".into()))?;
    let mut shapes = HashMap::new();
    for (name, t) in tensors.iter().filter(|(n, _)| *n != "__metadata__") {
        let shape: Option<Vec<usize>> = t["shape"].as_array().and_then(|dims| {
            dims.iter()
                .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                .collect()
        });
        let shape = shape.ok_or_else(|| bad(format!("tensor {name:?} has no shape")))?;
        shapes.insert(name.clone(), shape);
    }
    Ok(shapes)
}

/// `bytes` parsed as safetensors.
pub(super) fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| Error::data(path, format!("is not a safetensors file ({e})")))
}

/// The tensor `name`, an error if the file lacks it.
fn present<'a>(path: &Path, st: &'a SafeTensors<'_>, name: &str) -> Result<TensorView<'a>> {
    st.tensor(name)
        .map_err(|_| Error::data(path, format!("has no tensor {name:?}")))
}

/// The tensor `name`, which must be `dtype` of `shape`.
pub(super) fn tensor<'a>(
    path: &Path,
    st: &'a SafeTensors<'_>,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
) -> Result<TensorView<'a>> {
    let t = present(path, st, name)?;
    if t.dtype() != dtype || t.shape() != shape {
        return Err(Error::data(
            path,
            format!(
                "tensor {name:?} is {:?} {:?}; expected {dtype:?} {shape:?}",
                t.dtype(),
                t.shape()
            ),
        ));
    }
    Ok(t)
}

/// The tensor `name`, which must be `dtype`, of whatever shape.
fn any_shape<'a>(
    path: &Path,
    st: &'a SafeTensors<'_>,
    name: &str,
    dtype: Dtype,
) -> Result<TensorView<'a>> {
    let t = present(path, st, name)?;
    if t.dtype() != dtype {
        return Err(Error::data(
            path,
            format!(
                "tensor {name:?} is {:?} {:?}; expected {dtype:?}",
                t.dtype(),
                t.shape()
            ),
        ));
    }
    Ok(t)
}

/// A tensor's little-endian f32 values.
pub(super) fn f32_values(t: &TensorView<'_>) -> Vec<f32> {
    let chunks = t.data().chunks_exact(4);
    chunks
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

/// A tensor's little-endian u32 values.
pub(super) fn u32_values(t: &TensorView<'_>) -> Vec<u32> {
    let chunks = t.data().chunks_exact(4);
    chunks
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

/// Parameter `p` of `model` from the file: present, f32, and of `p`'s shape unless
/// `any` (a file to adapt); an error also says what the model needs.
pub(super) fn param_tensor<'a>(
    model: &Model,
    path: &Path,
    st: &'a SafeTensors<'_>,
    (p, any): (&Param, bool),
) -> Result<TensorView<'a>> {
    let t = match any {
        true => any_shape(path, st, &p.name, Dtype::F32),
        false => tensor(path, st, &p.name, Dtype::F32, &p.shape),
    };
    t.map_err(|e| match e {
        Error::Data { path, message } => Error::Data {
            path,
            message: format!("{message}; {} needs {}", model.name, names(model)),
        },
        e => e,
    })
}

/// `model`'s parameters: every tensor present, f32, of the model's shape, and finite.
pub(super) fn params(model: &Model, path: &Path, st: &SafeTensors<'_>) -> Result<Vec<f32>> {
    let mut x = vec![0.0f32; model.param_count()];
    for p in &model.params {
        let t = param_tensor(model, path, st, (p, false))?;
        let values = f32_values(&t);
        finite(path, &p.name, &values)?;
        x[p.offset..p.offset + p.len()].copy_from_slice(&values);
    }
    Ok(x)
}

/// ReLU can hide NaN weights from the loss, so a non-finite file would train on silently:
/// refuse tensor `name`'s `values` unless all are finite.
pub(super) fn finite(path: &Path, name: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::data(
            path,
            format!(
                "tensor {name:?} holds {} at element {i}; parameters must be finite (the file \
                 is corrupt or comes from a diverged run)",
                values[i]
            ),
        )),
    }
}

/// Refuse a file with a tensor the model has neither as a parameter nor as state.
pub(super) fn no_unknown(model: &Model, path: &Path, st: &SafeTensors<'_>) -> Result<()> {
    no_unknown_but(model, (path, st), |_| false)
}

/// [`no_unknown`], the tensors `skipped` names left out of the check.
pub(super) fn no_unknown_but(
    model: &Model,
    (path, st): (&Path, &SafeTensors<'_>),
    skipped: impl Fn(&str) -> bool,
) -> Result<()> {
    let known = |n: &str| model.param(n).is_some() || model.state.iter().any(|p| p.name == n);
    match st.names().into_iter().find(|n| !known(n) && !skipped(n)) {
        None => Ok(()),
        Some(extra) => Err(Error::data(
            path,
            format!(
                "has tensor {extra:?}, which {} does not have ({})",
                model.name,
                names(model)
            ),
        )),
    }
}

/// The model's non-trainable state from its tensors.
pub(super) fn model_state(model: &Model, path: &Path, st: &SafeTensors<'_>) -> Result<Vec<f32>> {
    let mut state = vec![0.0; model.state_count()];
    for p in &model.state {
        let values = if p.name.ends_with("num_batches_tracked") {
            let t = tensor(path, st, &p.name, Dtype::I64, &p.shape)?;
            let counts = t.data().chunks_exact(8);
            counts
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect()
        } else {
            f32_values(&tensor(path, st, &p.name, Dtype::F32, &p.shape)?)
        };
        state[p.offset..p.offset + p.len()].copy_from_slice(&values);
    }
    Ok(state)
}

/// The model's tensors and shapes, for errors.
pub(super) fn names(model: &Model) -> String {
    model
        .params
        .iter()
        .map(|p| format!("{} {:?}", p.name, p.shape))
        .collect::<Vec<_>>()
        .join(", ")
}
