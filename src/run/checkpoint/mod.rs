//! Parameters as safetensors files with PyTorch names, and whole-run checkpoints, both
//! written atomically.
//!
//! A checkpoint (`checkpoint.safetensors`) holds the model's tensors under their PyTorch
//! names, so any safetensors reader can take the parameters from it, plus the optimizer and
//! data state under `optimizer.*` and `data.*`, and in the header's metadata the counters,
//! the run's configuration and data fingerprint (so a resume can refuse what differs), and a
//! checksum over all of it (so a damaged file is an error, not silent garbage).

mod meta;
pub mod pretrained;
mod read;

pub(crate) use read::header_shapes;

use crate::data::Batch;
use crate::error::{Error, Result};
use crate::nn::Model;
use crate::nn::model_info::ModelInfo;
use crate::nn::weights::{self, Tensor, f32s, model_tensors, u32s};
use crate::optim::base::{self, BaseKind};
use crate::optim::program::Vector;
use crate::train::TrainerState;
use meta::Meta;
use safetensors::{Dtype, SafeTensors};
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

/// What a checkpoint records of the run that wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    /// The run's configuration as JSON (`config.json`'s fields).
    pub config: String,
    /// The fingerprint of the data it trained on ([`crate::data::Splits::fingerprint`]).
    pub data: String,
}

impl Origin {
    /// The origin of a run of `config` on `splits`.
    pub fn of(config: &super::config::TrainConfig, splits: &crate::data::Splits) -> Origin {
        Origin {
            config: serde_json::to_string(config).expect("a config serialises"),
            data: splits.fingerprint(),
        }
    }
}

fn write(path: &Path, tensors: &[Tensor], meta: Option<HashMap<String, String>>) -> Result<()> {
    let out = weights::serialize(tensors, meta)
        .map_err(|e| Error::data(path, format!("cannot serialise: {e}")))?;
    crate::fsutil::write_atomic(path, &out).map_err(|e| write_error(path, &e))
}

/// A failed write of a run's file: the previous version is intact (writes go to a temporary
/// file that is renamed over it only when complete), and the run can go on from there.
pub(crate) fn write_error(path: &Path, e: &std::io::Error) -> Error {
    let dir = path.parent().unwrap_or(Path::new("."));
    let full = e.kind() == std::io::ErrorKind::StorageFull;
    let what = if full {
        "the disk is full"
    } else {
        "the write failed"
    };
    Error::data(
        path,
        format!(
            "cannot write: {what} ({e}); its previous version is intact. Free some space (or \
             fix the error), then continue with `sampa train --resume {}`",
            dir.display()
        ),
    )
}

/// Write `params` (laid out as `model.params`) and the model's state `state` (its running
/// statistics, if it has any) to `path` as safetensors under PyTorch's names, described by
/// `info` in the metadata.
pub fn save(
    model: &Model,
    (params, state): (&[f32], &[f32]),
    info: &ModelInfo,
    path: &Path,
) -> Result<()> {
    let mut tensors = model_tensors(model, params);
    tensors.extend(weights::state_tensors(model, state));
    write(path, &tensors, Some(info.metadata(&model.name)))
}

/// The model description in the metadata of the model file at `path`, if it has one.
pub fn load_info(path: &Path) -> Result<Option<ModelInfo>> {
    let bytes = read::bytes(path)?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::data(path, format!("is not a safetensors file ({e})")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    ModelInfo::from_metadata(&meta)
        .transpose()
        .map_err(|e| Error::data(path, format!("has {e}")))
}

/// Read parameters for `model` from `path`: every tensor must be present, f32, and of the
/// model's shape. Extra tensors are an error too, since they mean a different model.
pub fn load(model: &Model, path: &Path) -> Result<Vec<f32>> {
    load_bytes(model, path, &read::bytes(path)?)
}

/// The model's non-trainable state (BatchNorm's running statistics) from the model file at
/// `path`: its starting values for a model without any.
pub fn load_state(model: &Model, path: &Path) -> Result<Vec<f32>> {
    if model.state_count() == 0 {
        return Ok(Vec::new());
    }
    let bytes = read::bytes(path)?;
    read::model_state(model, path, &read::parse(path, &bytes)?)
}

/// [`load`] on a file's bytes, named `path` in errors (the entry point for fuzzing).
pub fn load_bytes(model: &Model, path: &Path, bytes: &[u8]) -> Result<Vec<f32>> {
    let st = read::parse(path, bytes)?;
    // A file that names its model is checked by name first: a clearer error than a shape.
    if let Ok((_, header)) = SafeTensors::read_metadata(bytes)
        && let Some(theirs) = header.metadata().as_ref().and_then(|m| m.get("model"))
        && theirs != &model.name
        && header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("format"))
            .map(String::as_str)
            == Some(crate::nn::model_info::FORMAT)
    {
        return Err(Error::data(
            path,
            format!(
                "holds the parameters of {theirs}, but this run builds {}; give the flags \
                 that built it (--model, --hidden, --image-size) or another file",
                model.name
            ),
        ));
    }
    let x = read::params(model, path, &st)?;
    // The model's running statistics are the state's (`load_state`), not extra tensors.
    read::no_unknown(model, path, &st)?;
    Ok(x)
}

/// The checkpoint's name for the i-th vector a trainer carries: the first under the plain
/// name (most programs carry one), the others numbered (VaSSO's average, SAMPa's g_y per
/// group with m-sharpness).
fn carried_name(i: usize) -> String {
    match i {
        0 => "optimizer.carried_gradient".to_string(),
        i => format!("optimizer.carried_gradient.{i}"),
    }
}

/// The checkpoint's name for a base optimizer's state vector `v`.
fn state_tensor(v: Vector) -> String {
    let name = v.state_name().expect("a base's state vectors are named");
    format!("optimizer.{name}")
}

/// Write a whole-run checkpoint to `path`.
pub fn save_checkpoint(
    model: &Model,
    (state, progress): (&TrainerState, &Progress),
    origin: &Origin,
    path: &Path,
) -> Result<()> {
    let n = model.param_count();
    let mut tensors = model_tensors(model, &state.x);
    for (v, values) in &state.base_state {
        tensors.push(f32s(&state_tensor(*v), vec![n], values));
    }
    for (i, c) in state.carried.iter().enumerate() {
        tensors.push(f32s(&carried_name(i), vec![n], c));
    }
    tensors.extend(weights::state_tensors(model, &state.model_state));
    tensors.push(u32s("data.order", &progress.order));
    if let Some(b) = &state.previous {
        let shape = vec![b.len(), model.input];
        tensors.push(f32s("data.previous_batch.pixels", shape, &b.pixels));
        tensors.push(u32s("data.previous_batch.labels", &b.labels));
    }
    let pair = |(a, b): (u64, u64)| format!("{a},{b}");
    let meta: HashMap<String, String> = [
        ("format", meta::FORMAT.to_string()),
        ("model", model.name.clone()),
        ("config", origin.config.clone()),
        ("data", origin.data.clone()),
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
    .chain(state.aesam.map(|a| {
        // f64's text form reads back to the same bits.
        let value = format!("{},{},{},{}", a.mean, a.var, a.steps, a.sam_steps);
        ("aesam", value)
    }))
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let views = tensors.iter().map(|t| {
        let kind = format!("{:?} {:?}", t.dtype, t.shape);
        (t.name.as_str(), kind, t.data.as_slice())
    });
    let meta = meta::sealed(views, meta);
    write(path, &tensors, Some(meta))
}

/// The previous step's batch, if the checkpoint has one.
fn read_previous(model: &Model, meta: &Meta<'_>, st: &SafeTensors<'_>) -> Result<Option<Batch>> {
    const LABELS: &str = "data.previous_batch.labels";
    if !st.names().contains(&LABELS) {
        return Ok(None);
    }
    let labels = read::u32_values(&st.tensor(LABELS).map_err(|_| meta.bad(LABELS))?);
    let shape = [labels.len(), model.input];
    let pixels = read::tensor(
        meta.path,
        st,
        "data.previous_batch.pixels",
        Dtype::F32,
        &shape,
    )?;
    Ok(Some(Batch {
        pixels: read::f32_values(&pixels),
        labels,
        drawn: Vec::new(),
    }))
}

/// Read a checkpoint written by [`save_checkpoint`] for `model`, after verifying its checksum.
pub fn load_checkpoint(model: &Model, path: &Path) -> Result<(TrainerState, Progress, Origin)> {
    load_checkpoint_bytes(model, path, &read::bytes(path)?)
}

/// [`load_checkpoint`] on a file's bytes, named `path` in errors (the entry point for fuzzing).
pub fn load_checkpoint_bytes(
    model: &Model,
    path: &Path,
    bytes: &[u8],
) -> Result<(TrainerState, Progress, Origin)> {
    let st = read::parse(path, bytes)?;
    let meta = Meta::read(path, bytes, &st)?;
    // Checkpoints that name their model (all since the ResNets) are checked by name first.
    if let Ok(theirs) = meta.field("model")
        && theirs != model.name
    {
        return Err(Error::data(
            path,
            format!(
                "is the checkpoint of {theirs}, but this run builds {}; resume the run that \
                 wrote it, or start this one again",
                model.name
            ),
        ));
    }
    let n = model.param_count();
    let vector = |name: &str| -> Result<Vec<f32>> {
        let t = read::tensor(path, &st, name, Dtype::F32, &[n])?;
        Ok(read::f32_values(&t))
    };
    let names = st.names();
    let carried = (0..)
        .map(carried_name)
        .take_while(|name| names.contains(&name.as_str()))
        .map(|name| vector(&name))
        .collect::<Result<Vec<_>>>()?;
    // Whichever base's state vectors the file holds, in the order its program lists them (the
    // run's config, which the resume checks, says which base wrote them).
    let mut base_state: Vec<(Vector, Vec<f32>)> = Vec::new();
    for &v in BaseKind::ALL.iter().flat_map(|&b| base::state(b)) {
        let name = state_tensor(v);
        if names.contains(&name.as_str()) && !base_state.iter().any(|(u, _)| *u == v) {
            base_state.push((v, vector(&name)?));
        }
    }
    let order = st
        .tensor("data.order")
        .map_err(|_| meta.bad("data.order"))?;
    let state = TrainerState {
        x: read::params(model, path, &st)?,
        base_state,
        carried,
        model_state: read::model_state(model, path, &st)?,
        steps: meta.parse("steps")?,
        previous: read_previous(model, &meta, &st)?,
        noise_rng: meta.pair("noise_rng")?,
        aesam: meta.aesam()?,
    };
    let progress = Progress {
        epoch: meta.parse("epoch")?,
        position: meta.parse("position")?,
        order: read::u32_values(&order),
        augment_rng: meta.pair("augment_rng")?,
        loss_sum: meta.parse("epoch_loss_sum")?,
        correct: meta.parse("epoch_correct")?,
        seen: meta.parse("epoch_seen")?,
        seconds: meta.parse("epoch_seconds")?,
    };
    let origin = Origin {
        config: meta.field("config")?.to_string(),
        data: meta.field("data")?.to_string(),
    };
    Ok((state, progress, origin))
}
