//! Parameters as safetensors files with PyTorch names, and whole-run checkpoints, both
//! written atomically.
//!
//! A checkpoint (`checkpoint.safetensors`) holds the model's tensors under their PyTorch
//! names, so any safetensors reader can take the parameters from it, plus the optimizer and
//! data state under `optimizer.*` and `data.*`, and the counters in the header's metadata.

use crate::data::Batch;
use crate::error::{Error, Result};
use crate::nn::Model;
use crate::train::TrainerState;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::collections::HashMap;
use std::path::Path;

/// Where a run stands in its data: what a checkpoint needs besides the trainer.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// The epoch in progress (0-based); after a finished epoch, the next one.
    pub epoch: usize,
    /// Examples of that epoch already used.
    pub position: usize,
    /// The epoch's shuffle order.
    pub order: Vec<u32>,
    /// The augmentation generator's state.
    pub augment_rng: (u64, u64),
    /// The epoch's running training loss sum, correct count, examples and seconds.
    pub loss_sum: f64,
    /// Correct predictions so far this epoch.
    pub correct: usize,
    /// Examples seen so far this epoch.
    pub seen: usize,
    /// Seconds spent in this epoch so far.
    pub seconds: f64,
}

const FORMAT: &str = "sampa-checkpoint-1";

struct Tensor {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn f32s(name: &str, shape: Vec<usize>, v: &[f32]) -> Tensor {
    Tensor {
        name: name.into(),
        dtype: Dtype::F32,
        shape,
        data: bytemuck::cast_slice(v).to_vec(),
    }
}

fn u32s(name: &str, v: &[u32]) -> Tensor {
    Tensor {
        name: name.into(),
        dtype: Dtype::U32,
        shape: vec![v.len()],
        data: bytemuck::cast_slice(v).to_vec(),
    }
}

fn model_tensors(model: &Model, params: &[f32]) -> Vec<Tensor> {
    let tensor = |p: &crate::nn::Param| {
        f32s(
            &p.name,
            p.shape.clone(),
            &params[p.offset..p.offset + p.len()],
        )
    };
    model.params.iter().map(tensor).collect()
}

fn write(path: &Path, tensors: &[Tensor], meta: Option<HashMap<String, String>>) -> Result<()> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|t| {
            let v = TensorView::new(t.dtype, t.shape.clone(), &t.data).expect("shape matches data");
            (t.name.clone(), v)
        })
        .collect();
    let out = safetensors::serialize(views, meta)
        .map_err(|e| Error::data(path, format!("cannot serialise: {e}")))?;
    crate::fsutil::write_atomic(path, &out)
        .map_err(|e| Error::data(path, format!("cannot write: {e}")))
}

/// Write `params` (laid out as `model.params`) to `path` as f32 safetensors.
pub fn save(model: &Model, params: &[f32], path: &Path) -> Result<()> {
    write(path, &model_tensors(model, params), None)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))
}

fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| Error::data(path, format!("is not a safetensors file ({e})")))
}

/// Read parameters for `model` from `path`: every tensor must be present, f32, and of the
/// model's shape. Extra tensors are an error too, since they mean a different model.
pub fn load(model: &Model, path: &Path) -> Result<Vec<f32>> {
    let bytes = read(path)?;
    let st = parse(path, &bytes)?;
    let x = load_params(model, path, &st)?;
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

/// The tensor `name` as f32 or u32 values of `shape`.
fn tensor_bytes<'a>(
    path: &Path,
    st: &'a SafeTensors<'_>,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
) -> Result<TensorView<'a>> {
    let t = st
        .tensor(name)
        .map_err(|_| Error::data(path, format!("has no tensor {name:?}")))?;
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

fn f32_values(t: &TensorView<'_>) -> Vec<f32> {
    let chunks = t.data().chunks_exact(4);
    chunks
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

fn u32_values(t: &TensorView<'_>) -> Vec<u32> {
    let chunks = t.data().chunks_exact(4);
    chunks
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

fn load_params(model: &Model, path: &Path, st: &SafeTensors<'_>) -> Result<Vec<f32>> {
    let mut x = vec![0.0f32; model.param_count()];
    for p in &model.params {
        let t = tensor_bytes(path, st, &p.name, Dtype::F32, &p.shape).map_err(|e| match e {
            Error::Data { path, message } => Error::Data {
                path,
                message: format!("{message}; {} needs {}", model.name, names(model)),
            },
            e => e,
        })?;
        x[p.offset..p.offset + p.len()].copy_from_slice(&f32_values(&t));
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

/// The checkpoint's name for the i-th vector a program carries (every program today carries
/// at most one, under the first name).
fn carried_name(i: usize) -> String {
    match i {
        0 => "optimizer.carried_gradient".to_string(),
        i => format!("optimizer.carried_gradient.{i}"),
    }
}

/// Write a whole-run checkpoint to `path`.
pub fn save_checkpoint(
    model: &Model,
    state: &TrainerState,
    progress: &Progress,
    path: &Path,
) -> Result<()> {
    let n = model.param_count();
    let mut tensors = model_tensors(model, &state.x);
    tensors.push(f32s("optimizer.momentum", vec![n], &state.momentum));
    for (i, c) in state.carried.iter().enumerate() {
        tensors.push(f32s(&carried_name(i), vec![n], c));
    }
    for p in &model.state {
        let values = &state.model_state[p.offset..p.offset + p.len()];
        tensors.push(f32s(&p.name, p.shape.clone(), values));
    }
    tensors.push(u32s("data.order", &progress.order));
    if let Some(b) = &state.previous {
        let shape = vec![b.len(), model.input];
        tensors.push(f32s("data.previous_batch.pixels", shape, &b.pixels));
        tensors.push(u32s("data.previous_batch.labels", &b.labels));
    }
    let pair = |(a, b): (u64, u64)| format!("{a},{b}");
    let meta: HashMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("steps", state.steps.to_string()),
        ("epoch", progress.epoch.to_string()),
        ("position", progress.position.to_string()),
        ("augment_rng", pair(progress.augment_rng)),
        ("noise_rng", pair(state.noise_rng)),
        ("epoch_loss_sum", progress.loss_sum.to_string()),
        ("epoch_correct", progress.correct.to_string()),
        ("epoch_seen", progress.seen.to_string()),
        ("epoch_seconds", progress.seconds.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    write(path, &tensors, Some(meta))
}

/// Read a checkpoint written by [`save_checkpoint`] for `model`.
pub fn load_checkpoint(model: &Model, path: &Path) -> Result<(TrainerState, Progress)> {
    let bytes = read(path)?;
    let st = parse(path, &bytes)?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::data(path, format!("has an unreadable header ({e})")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(Error::data(
            path,
            format!("is not a sampa checkpoint (no \"format\": {FORMAT:?} in its metadata)"),
        ));
    }
    let field = |key: &str| -> Result<&str> {
        meta.get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::data(path, format!("has no {key:?} in its metadata")))
    };
    let bad = |key: &str| Error::data(path, format!("has a malformed {key:?} in its metadata"));
    let number = |key: &str| -> Result<usize> { field(key)?.parse().map_err(|_| bad(key)) };
    let real = |key: &str| -> Result<f64> { field(key)?.parse().map_err(|_| bad(key)) };
    let pair = |key: &str| -> Result<(u64, u64)> {
        let (a, b) = field(key)?.split_once(',').ok_or_else(|| bad(key))?;
        Ok((
            a.parse().map_err(|_| bad(key))?,
            b.parse().map_err(|_| bad(key))?,
        ))
    };
    let n = model.param_count();
    let vector = |name: &str| -> Result<Vec<f32>> {
        Ok(f32_values(&tensor_bytes(
            path,
            &st,
            name,
            Dtype::F32,
            &[n],
        )?))
    };
    let names = st.names();
    let has = |name: &str| names.contains(&name);
    let carried = (0..)
        .map(carried_name)
        .take_while(|name| has(name))
        .map(|name| vector(&name))
        .collect::<Result<Vec<_>>>()?;
    let mut model_state = vec![0.0; model.state_count()];
    for p in &model.state {
        let t = tensor_bytes(path, &st, &p.name, Dtype::F32, &p.shape)?;
        model_state[p.offset..p.offset + p.len()].copy_from_slice(&f32_values(&t));
    }
    let previous = if has("data.previous_batch.labels") {
        let labels = st
            .tensor("data.previous_batch.labels")
            .map_err(|_| bad("data.previous_batch.labels"))?;
        let labels = u32_values(&labels);
        let shape = [labels.len(), model.input];
        let pixels = tensor_bytes(path, &st, "data.previous_batch.pixels", Dtype::F32, &shape)?;
        Some(Batch {
            pixels: f32_values(&pixels),
            labels,
        })
    } else {
        None
    };
    let order = st.tensor("data.order").map_err(|_| bad("data.order"))?;
    let state = TrainerState {
        x: load_params(model, path, &st)?,
        momentum: vector("optimizer.momentum")?,
        carried,
        model_state,
        steps: number("steps")?,
        previous,
        noise_rng: pair("noise_rng")?,
    };
    let progress = Progress {
        epoch: number("epoch")?,
        position: number("position")?,
        order: u32_values(&order),
        augment_rng: pair("augment_rng")?,
        loss_sum: real("epoch_loss_sum")?,
        correct: number("epoch_correct")?,
        seen: number("epoch_seen")?,
        seconds: real("epoch_seconds")?,
    };
    Ok((state, progress))
}
