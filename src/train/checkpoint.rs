//! The one checkpoint format of pre-training and fine-tuning: everything needed to continue a
//! run exactly, as plain data. A checkpoint is a directory holding
//! - the model's files: a model directory any genpt command (and transformers) loads,
//!   `config.json` + `model.safetensors`, with a fine-tuned model's head files beside them;
//! - `optimizer.safetensors`: Adam's moments by parameter name;
//! - `state.json`: where the run stands, in the terms of the loop that wrote it (pre-training:
//!   updates, RNG position, data fingerprint; fine-tuning: epochs, best score, settings).
//!
//! It is written whole or not at all ([`crate::files::replace_dir`]): a crash leaves the
//! previous checkpoint of that name intact, and a full disk leaves no partial copy behind.

use std::path::Path;

use anyhow::Context;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::OpenAiAdam;
use crate::host::HostValues;
use crate::weights::named::PathStack;
use crate::weights::{hf, NamedTensors};

pub const STATE_FILE: &str = "state.json";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// A model that has a directory form: the language model, or a classifier (the language model
/// and its head).
pub trait ModelFiles: Module + Sized {
    fn save_files(&self, dir: &Path) -> anyhow::Result<()>;
    fn load_files(dir: &Path, device: &Device) -> anyhow::Result<Self>;
}

impl ModelFiles for crate::Gpt {
    fn save_files(&self, dir: &Path) -> anyhow::Result<()> {
        Ok(hf::save(self, dir)?)
    }
    fn load_files(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        Ok(hf::load(dir, device)?)
    }
}

/// A checkpoint read back.
pub struct Loaded<M, S> {
    pub model: M,
    /// Adam's moments, for [`OpenAiAdam::import_moments`].
    pub moments: NamedTensors,
    pub state: S,
}

/// Writes the checkpoint `dir`, replacing one there. Refused, before anything is written, when
/// a parameter holds NaN or infinity: such a checkpoint could only continue a broken run.
pub fn save<M: ModelFiles, S: Serialize>(
    dir: &Path,
    model: &M,
    optimizer: &OpenAiAdam,
    state: &S,
) -> anyhow::Result<()> {
    if let Some(param) = first_nonfinite(model) {
        anyhow::bail!("refusing to save a checkpoint: parameter {param} holds NaN or infinity");
    }
    crate::files::replace_dir(dir, |partial| {
        model.save_files(partial)?;
        // The crash tests' hook (`failpoints` builds only): killed, or the disk full, between
        // the weights and the rest.
        crate::settings::failpoint("checkpoint-after-weights").map_err(|e| {
            crate::files::WriteError {
                path: partial.join(OPTIMIZER_FILE),
                source: e,
            }
        })?;
        hf::save_safetensors(
            &optimizer.export_moments(),
            &partial.join(OPTIMIZER_FILE),
            str::to_string,
        )?;
        let state = serde_json::to_vec_pretty(state).expect("a state serialises");
        crate::files::write_atomic(&partial.join(STATE_FILE), &state)?;
        Ok(())
    })
}

/// Reads the checkpoint `dir`. Errors name the file at fault.
pub fn load<M: ModelFiles, S: DeserializeOwned>(
    dir: &Path,
    device: &Device,
) -> anyhow::Result<Loaded<M, S>> {
    load_with_model_in(dir, dir, device)
}

/// [`load`], the model's files read from `model_dir` (a layout older builds wrote).
pub fn load_with_model_in<M: ModelFiles, S: DeserializeOwned>(
    dir: &Path,
    model_dir: &Path,
    device: &Device,
) -> anyhow::Result<Loaded<M, S>> {
    let state_path = dir.join(STATE_FILE);
    let text =
        std::fs::read(&state_path).with_context(|| format!("reading {}", state_path.display()))?;
    let state = serde_json::from_slice(&text).map_err(|e| {
        anyhow::anyhow!("{}: not a valid training state: {e}", state_path.display())
    })?;
    let model = M::load_files(model_dir, device)?;
    let moments = hf::read_safetensors(&dir.join(OPTIMIZER_FILE))?;
    Ok(Loaded {
        model,
        moments,
        state,
    })
}

/// The name of the first parameter of `model` holding NaN or infinity, if one does.
pub fn first_nonfinite<M: Module>(model: &M) -> Option<String> {
    struct Find {
        path: PathStack,
        found: Option<String>,
    }
    impl ModuleVisitor for Find {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.found.is_none() && param.val().host_values().iter().any(|v| !v.is_finite()) {
                self.found = Some(self.path.name());
            }
        }
    }
    let mut find = Find {
        path: PathStack::default(),
        found: None,
    };
    model.visit(&mut find);
    find.found
}
