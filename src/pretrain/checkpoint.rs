//! Checkpoints: everything needed to continue a run exactly, as plain data.
//!
//! A checkpoint is a directory `step-NNNNNNNN/` holding
//! - `config.json` + `model.safetensors`: the weights, a model directory any genpt command (and
//!   transformers) loads;
//! - `optimizer.safetensors`: Adam's moments by parameter name;
//! - `state.json`: the update count, the RNG position, the data fingerprint, the best validation
//!   loss so far.
//!
//! It is written into a hidden `.partial-*` directory, every file fsynced, then renamed into
//! place and the parent fsynced: a crash leaves the previous checkpoints intact and at worst a
//! `.partial-*` directory, which loading ignores and the next save removes. A save that fails
//! (a full disk) removes its `.partial-*` directory before reporting the error, so that it
//! holds no space; the previous checkpoints stay as they were, and `--resume` continues from
//! the last one once there is room again.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::train::OpenAiAdam;
use crate::weights::{self, hf, WeightsError};
use crate::Gpt;

pub const STATE_FILE: &str = "state.json";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// Where a run stands, besides weights and moments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Updates done.
    pub step: u64,
    /// The RNG: every micro-batch consumes one stream (window draws and dropout masks), numbered
    /// from 0; `next_stream` is the first one not yet used.
    pub seed: u64,
    pub next_stream: u64,
    /// Tokens trained on so far.
    pub tokens: u64,
    /// Fingerprint of the tokenizer behind the training data.
    pub data_fingerprint: u64,
    pub best_val_loss: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("refusing to save a checkpoint: {0}")]
    NonFinite(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |e| {
        CheckpointError::Weights(WeightsError::Io {
            path: path.to_path_buf(),
            source: e,
        })
    }
}

fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io(dir))
}

/// Writes a checkpoint named `name` under `root`, replacing one of that name.
pub fn save(
    root: &Path,
    name: &str,
    model: &Gpt,
    optimizer: &OpenAiAdam,
    state: &TrainState,
) -> Result<PathBuf, CheckpointError> {
    let tensors = weights::export(model);
    if let Some((param, _)) = tensors
        .iter()
        .find(|(_, t)| t.values.iter().any(|v| !v.is_finite()))
    {
        return Err(CheckpointError::NonFinite(format!(
            "parameter {param} holds NaN or infinity"
        )));
    }
    std::fs::create_dir_all(root).map_err(io(root))?;
    let partial = root.join(format!(".partial-{name}"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
    }
    let written = (|| {
        std::fs::create_dir_all(&partial).map_err(io(&partial))?;
        hf::save(model, &partial)?;
        failpoint("checkpoint-after-weights", &partial.join(OPTIMIZER_FILE))?;
        hf::save_safetensors(
            &optimizer.export_moments(),
            &partial.join(OPTIMIZER_FILE),
            str::to_string,
        )?;
        let state_json = serde_json::to_vec_pretty(state).expect("state serialises");
        weights::write_atomic(&partial.join(STATE_FILE), &state_json)?;
        sync_dir(&partial)
    })();
    if let Err(e) = written {
        // A full disk: give the space back, keep the error for the caller.
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }

    let target = root.join(name);
    let old = root.join(format!(".old-{name}"));
    if target.exists() {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(&target, &old).map_err(io(&target))?;
    }
    std::fs::rename(&partial, &target).map_err(io(&target))?;
    sync_dir(root)?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(target)
}

/// The crash-safety test hook at `name` ([`crate::settings::failpoint`]), its full disk
/// reported as the write of `next_file` failing.
fn failpoint(name: &str, next_file: &Path) -> Result<(), CheckpointError> {
    crate::settings::failpoint(name).map_err(io(next_file))
}

/// A loaded checkpoint.
pub struct Checkpoint {
    pub model: Gpt,
    pub moments: weights::NamedTensors,
    pub state: TrainState,
}

pub fn load(dir: &Path, device: &Device) -> Result<Checkpoint, CheckpointError> {
    let state_path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path).map_err(io(&state_path))?;
    let state: TrainState = serde_json::from_str(&text).map_err(|e| CheckpointError::Invalid {
        path: state_path.clone(),
        message: format!("not a valid training state: {e}"),
    })?;
    let model = hf::load(dir, device)?;
    let moments = hf::read_safetensors(&dir.join(OPTIMIZER_FILE))?;
    Ok(Checkpoint {
        model,
        moments,
        state,
    })
}

/// Checkpoint directories `step-*` under `root`, oldest first.
pub fn list(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let step = name.strip_prefix("step-")?.parse().ok()?;
            Some((step, entry.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// The newest checkpoint under `root` that loads, with the reasons the newer ones did not.
pub fn load_latest(root: &Path, device: &Device) -> (Option<(PathBuf, Checkpoint)>, Vec<String>) {
    let mut skipped = Vec::new();
    for dir in list(root).into_iter().rev() {
        match load(&dir, device) {
            Ok(checkpoint) => return (Some((dir, checkpoint)), skipped),
            Err(e) => skipped.push(format!("{}: {e}", dir.display())),
        }
    }
    (None, skipped)
}

/// Deletes all but the `keep` newest `step-*` checkpoints.
pub fn prune(root: &Path, keep: usize) -> Result<(), CheckpointError> {
    let all = list(root);
    for dir in &all[..all.len().saturating_sub(keep.max(1))] {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    Ok(())
}

pub fn step_name(step: u64) -> String {
    format!("step-{step:08}")
}
