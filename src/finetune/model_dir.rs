//! A fine-tuned model on disk: the transformer as a model directory any genpt command loads,
//! with the head's weights (`head.safetensors`) and shape (`head.json`) beside it.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::classifier::Classifier;
use super::head::{ClassifierHead, Pooling};
use super::Attach;
use crate::weights::{self, hf};

pub const HEAD_FILE: &str = "head.safetensors";
pub const HEAD_CONFIG: &str = "head.json";

#[derive(Serialize, Deserialize)]
struct HeadConfig {
    pooling: Pooling,
    n_outputs: usize,
    dropout: f64,
}

/// Saves `model` and what `attach` adds as `dir`, replacing an earlier one only once the new one
/// is complete ([`crate::files::replace_dir`]): a crash while saving leaves the previous best
/// model whole, and a failed save (a full disk) removes its partial copy.
pub fn save_complete(model: &Classifier, attach: &Attach, dir: &Path) -> anyhow::Result<()> {
    crate::files::replace_dir(dir, |partial| {
        save(model, partial).and_then(|()| attach(partial))
    })
}

impl crate::train::ModelFiles for Classifier {
    fn save_files(&self, dir: &Path) -> anyhow::Result<()> {
        save(self, dir)
    }
    fn load_files(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        load(dir, device)
    }
}

/// Writes the transformer (a model directory any genpt command loads) and the head beside it.
pub fn save(model: &Classifier, dir: &Path) -> anyhow::Result<()> {
    hf::save(&model.gpt, dir)?;
    let head = &model.head;
    let mut tensors = weights::NamedTensors::new();
    tensors.insert(
        "weight".into(),
        weights::HostTensor::from_tensor(&head.weight.val()),
    );
    tensors.insert(
        "bias".into(),
        weights::HostTensor::from_tensor(&head.bias.val()),
    );
    hf::save_safetensors(&tensors, &dir.join(HEAD_FILE), str::to_string)?;
    let config = HeadConfig {
        pooling: head.pooling,
        n_outputs: head.weight.dims()[1],
        dropout: head.dropout,
    };
    crate::files::write_atomic(
        &dir.join(HEAD_CONFIG),
        serde_json::to_string_pretty(&config)?.as_bytes(),
    )?;
    Ok(())
}

/// Reads what [`save`] wrote.
pub fn load(dir: &Path, device: &Device) -> anyhow::Result<Classifier> {
    use anyhow::Context;
    let gpt = hf::load(dir, device)?;
    let path = dir.join(HEAD_CONFIG);
    let config: HeadConfig = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .with_context(|| format!("{}: not a fine-tuned model", path.display()))?,
    )
    .with_context(|| format!("{}: not a valid head description", path.display()))?;
    let mut tensors = hf::read_safetensors(&dir.join(HEAD_FILE))?;
    let mut take = |name: &str, shape: Vec<usize>| -> anyhow::Result<TensorData> {
        let t = tensors
            .remove(name)
            .with_context(|| format!("{}: no {name}", dir.join(HEAD_FILE).display()))?;
        anyhow::ensure!(
            t.shape == shape,
            "{}: {name} has shape {:?}, expected {shape:?}",
            dir.join(HEAD_FILE).display(),
            t.shape
        );
        Ok(TensorData::new(t.values, t.shape))
    };
    let d = gpt.config().n_embd;
    let weight = take("weight", vec![d, config.n_outputs])?;
    let bias = take("bias", vec![config.n_outputs])?;
    let mut head =
        ClassifierHead::new_lazy(d, config.n_outputs, config.pooling, config.dropout, device);
    head.weight = burn::module::Param::from_tensor(Tensor::from_data(weight, device));
    head.bias = burn::module::Param::from_tensor(Tensor::from_data(bias, device));
    Ok(Classifier { gpt, head })
}
