//! Parameters as safetensors files with PyTorch names, and whole-run checkpoints, both
//! written atomically.
//!
//! A checkpoint (`checkpoint.safetensors`) holds the model's tensors under their PyTorch
//! names, so any safetensors reader can take the parameters from it, plus the optimizer and
//! data state under `optimizer.*` and `data.*`, and the counters in the header's metadata.

use crate::data::Batch;
use crate::error::{Error, Result};
use crate::nn::Model;
use crate::nn::weights::{self, Tensor, f32s, model_tensors, u32s};
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

fn write(path: &Path, tensors: &[Tensor], meta: Option<HashMap<String, String>>) -> Result<()> {
    let out = weights::serialize(tensors, meta)
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
        let values = f32_values(&t);
        // ReLU can hide NaN weights from the loss, so a non-finite file would train on
        // silently: refuse it here, naming the tensor.
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::data(
                path,
                format!(
                    "tensor {:?} holds {} at element {i}; parameters must be finite (the file \
                     is corrupt or comes from a diverged run)",
                    p.name, values[i]
                ),
            ));
        }
        x[p.offset..p.offset + p.len()].copy_from_slice(&values);
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

/// A checkpoint's metadata, read field by field with errors that name the file and field.
struct Meta<'a> {
    path: &'a Path,
    map: HashMap<String, String>,
}

impl Meta<'_> {
    fn field(&self, key: &str) -> Result<&str> {
        self.map
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::data(self.path, format!("has no {key:?} in its metadata")))
    }

    fn bad(&self, key: &str) -> Error {
        Error::data(
            self.path,
            format!("has a malformed {key:?} in its metadata"),
        )
    }

    fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<T> {
        self.field(key)?.parse().map_err(|_| self.bad(key))
    }

    fn pair(&self, key: &str) -> Result<(u64, u64)> {
        let (a, b) = self
            .field(key)?
            .split_once(',')
            .ok_or_else(|| self.bad(key))?;
        Ok((
            a.parse().map_err(|_| self.bad(key))?,
            b.parse().map_err(|_| self.bad(key))?,
        ))
    }
}

fn read_meta<'a>(path: &'a Path, bytes: &[u8]) -> Result<Meta<'a>> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::data(path, format!("has an unreadable header ({e})")))?;
    let map = header.metadata().clone().unwrap_or_default();
    if map.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(Error::data(
            path,
            format!("is not a sampa checkpoint (no \"format\": {FORMAT:?} in its metadata)"),
        ));
    }
    Ok(Meta { path, map })
}

/// The model's non-trainable state from its tensors.
fn read_model_state(model: &Model, path: &Path, st: &SafeTensors<'_>) -> Result<Vec<f32>> {
    let mut state = vec![0.0; model.state_count()];
    for p in &model.state {
        let t = tensor_bytes(path, st, &p.name, Dtype::F32, &p.shape)?;
        state[p.offset..p.offset + p.len()].copy_from_slice(&f32_values(&t));
    }
    Ok(state)
}

/// The previous step's batch, if the checkpoint has one.
fn read_previous(model: &Model, meta: &Meta<'_>, st: &SafeTensors<'_>) -> Result<Option<Batch>> {
    const LABELS: &str = "data.previous_batch.labels";
    if !st.names().contains(&LABELS) {
        return Ok(None);
    }
    let labels = u32_values(&st.tensor(LABELS).map_err(|_| meta.bad(LABELS))?);
    let shape = [labels.len(), model.input];
    let pixels = tensor_bytes(
        meta.path,
        st,
        "data.previous_batch.pixels",
        Dtype::F32,
        &shape,
    )?;
    Ok(Some(Batch {
        pixels: f32_values(&pixels),
        labels,
    }))
}

/// Read a checkpoint written by [`save_checkpoint`] for `model`.
pub fn load_checkpoint(model: &Model, path: &Path) -> Result<(TrainerState, Progress)> {
    let bytes = read(path)?;
    let st = parse(path, &bytes)?;
    let meta = read_meta(path, &bytes)?;
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
    let carried = (0..)
        .map(carried_name)
        .take_while(|name| names.contains(&name.as_str()))
        .map(|name| vector(&name))
        .collect::<Result<Vec<_>>>()?;
    let order = st
        .tensor("data.order")
        .map_err(|_| meta.bad("data.order"))?;
    let state = TrainerState {
        x: load_params(model, path, &st)?,
        momentum: vector("optimizer.momentum")?,
        carried,
        model_state: read_model_state(model, path, &st)?,
        steps: meta.parse("steps")?,
        previous: read_previous(model, &meta, &st)?,
        noise_rng: meta.pair("noise_rng")?,
    };
    let progress = Progress {
        epoch: meta.parse("epoch")?,
        position: meta.parse("position")?,
        order: u32_values(&order),
        augment_rng: meta.pair("augment_rng")?,
        loss_sum: meta.parse("epoch_loss_sum")?,
        correct: meta.parse("epoch_correct")?,
        seen: meta.parse("epoch_seen")?,
        seconds: meta.parse("epoch_seconds")?,
    };
    Ok((state, progress))
}
