//! Pre-training's checkpoints: a series `checkpoints/step-NNNNNNNN/` (the newest kept) and
//! `best/` (the lowest validation loss), each in the one checkpoint format
//! ([`crate::train::checkpoint`]) with a [`TrainState`] as its `state.json`.
//!
//! Saving is crash-safe there: a crash leaves the previous checkpoints intact and at worst a
//! hidden `.partial-*` directory, which listing ignores and the next save removes; a save that
//! fails (a full disk) removes its partial copy, and `--resume` continues from the last
//! checkpoint once there is room again.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::train::{checkpoint as format, OpenAiAdam};
use crate::Gpt;

pub use format::{OPTIMIZER_FILE, STATE_FILE};

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

/// Writes a checkpoint named `name` under `root`, replacing one of that name.
pub fn save(
    root: &Path,
    name: &str,
    model: &Gpt,
    optimizer: &OpenAiAdam,
    state: &TrainState,
) -> anyhow::Result<PathBuf> {
    let dir = root.join(name);
    format::save(&dir, model, optimizer, state)?;
    Ok(dir)
}

/// A loaded checkpoint.
pub type Checkpoint = format::Loaded<Gpt, TrainState>;

pub fn load(dir: &Path, device: &Device) -> anyhow::Result<Checkpoint> {
    format::load(dir, device)
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
pub fn prune(root: &Path, keep: usize) -> anyhow::Result<()> {
    let all = list(root);
    for dir in &all[..all.len().saturating_sub(keep.max(1))] {
        std::fs::remove_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("removing {}: {e}", dir.display()))?;
    }
    Ok(())
}

pub fn step_name(step: u64) -> String {
    format!("step-{step:08}")
}
