//! The run configuration of `genpt pretrain`: a TOML file, overridable with `--set key=value`.
//! Unknown keys are errors (a typo must never silently fall back to a default), and the resolved
//! configuration is written into the run directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::precision::Precision;
use crate::train::{AdamConfig, Schedule};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Where metrics, plots and checkpoints go.
    pub out_dir: PathBuf,
    pub model: ModelSection,
    pub data: DataSection,
    pub train: TrainSection,
    #[serde(default)]
    pub optimizer: AdamConfig,
    #[serde(default)]
    pub checkpoint: CheckpointSection,
    #[serde(default)]
    pub zeroshot: ZeroShotSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Continued pre-training: start from this model directory (Hugging Face layout, the
    /// release's npy files, or a genpt checkpoint) instead of random weights. The shape comes
    /// from it (`preset` is not used); the shape fields below must be left out or agree. `n_head`
    /// gives the release's npy layout its head count (default 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    /// A preset (gpt1, small, mini, tiny); the fields below override it. The vocabulary size
    /// always comes from the data.
    #[serde(default = "default_preset")]
    pub preset: String,
    pub n_layer: Option<usize>,
    pub n_embd: Option<usize>,
    pub n_head: Option<usize>,
    pub n_positions: Option<usize>,
    pub dropout: Option<f64>,
}

fn default_preset() -> String {
    "mini".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// A directory written by `genpt prepare`.
    pub dir: PathBuf,
    /// Check every shard's body when the run opens it (checksum and id range, at disk speed);
    /// `false` skips the check for corpora too large to read once at start.
    #[serde(default = "d_true")]
    pub verify: bool,
}

fn d_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Sequences per micro-batch.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Micro-batches per update (gradients are averaged over them).
    #[serde(default = "d_one")]
    pub grad_accum: usize,
    /// Updates in total.
    pub steps: u64,
    /// Linear warmup, in updates (paper: 2,000).
    #[serde(default = "d_warmup")]
    pub warmup_steps: u64,
    #[serde(default = "d_schedule")]
    pub schedule: Schedule,
    /// Clip the global gradient norm to this (paper's release: 1.0; 0 disables).
    #[serde(default = "d_clip")]
    pub max_grad_norm: f64,
    #[serde(default)]
    pub seed: u64,
    /// Validation loss every this many updates (0: only at the end).
    #[serde(default = "d_eval_every")]
    pub eval_every: u64,
    /// Windows in the validation set (fixed, consecutive, from the start of the split).
    #[serde(default = "d_eval_windows")]
    pub eval_windows: usize,
    /// What a NaN or infinite loss does: stop the run, or skip the update.
    #[serde(default)]
    pub on_nonfinite: OnNonFinite,
    #[serde(default = "d_backend")]
    pub backend: String,
    /// Arithmetic of the forward and backward passes: "fp32", or "bf16" on fp32 master weights
    /// and optimizer state ([`crate::precision`]).
    #[serde(default)]
    pub precision: Precision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnNonFinite {
    #[default]
    Stop,
    Skip,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSection {
    /// Save every this many updates (0: only at the end).
    #[serde(default = "d_ckpt_every")]
    pub every: u64,
    /// Keep this many most recent checkpoints (the best by validation loss is kept apart).
    #[serde(default = "d_keep")]
    pub keep_last: usize,
}

impl Default for CheckpointSection {
    fn default() -> Self {
        Self {
            every: d_ckpt_every(),
            keep_last: d_keep(),
        }
    }
}

/// Zero-shot tracking (paper, Figure 2 right): the section 5 heuristics evaluated during
/// pre-training, logged to `metrics.jsonl` and drawn in `zeroshot.png`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroShotSection {
    /// Evaluate every this many updates, and before the first and after the last (0: never).
    #[serde(default)]
    pub every: u64,
    /// The tokenizer the corpus was prepared with (checked against its fingerprint).
    pub tokenizer: Option<PathBuf>,
    /// At most this many examples per task and split.
    pub limit: Option<usize>,
    /// Task → its data directory, e.g. `cola = "../shared/data/glue/CoLA"`; tasks are those of
    /// `genpt zeroshot` (`ZERO_SHOT_TASKS`: cola, sst2, race and its levels, storycloze, storycloze-all, dpr, wsc).
    #[serde(default)]
    pub tasks: BTreeMap<String, PathBuf>,
}

fn d_batch() -> usize {
    8
}
fn d_one() -> usize {
    1
}
fn d_warmup() -> u64 {
    2000
}
fn d_schedule() -> Schedule {
    Schedule::WarmupCosine
}
fn d_clip() -> f64 {
    1.0
}
fn d_eval_every() -> u64 {
    100
}
fn d_eval_windows() -> usize {
    32
}
fn d_backend() -> String {
    "flex".into()
}
fn d_ckpt_every() -> u64 {
    500
}
fn d_keep() -> usize {
    2
}

impl RunConfig {
    /// Reads `path` and applies `overrides` (`section.key=value`, value in TOML syntax, or a bare
    /// string).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, overrides).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str, overrides: &[String]) -> Result<Self, String> {
        let mut value: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        for item in overrides {
            apply_override(&mut value, item)?;
        }
        let config: Self = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let t = &self.train;
        if t.batch_size == 0 || t.grad_accum == 0 || t.steps == 0 {
            return Err(
                "train.batch_size, train.grad_accum and train.steps must be positive".into(),
            );
        }
        if !(self.optimizer.lr > 0.0 && self.optimizer.lr.is_finite()) {
            return Err(format!(
                "optimizer.lr must be positive, got {}",
                self.optimizer.lr
            ));
        }
        let z = &self.zeroshot;
        if z.every > 0 && (z.tokenizer.is_none() || z.tasks.is_empty()) {
            return Err("zeroshot.every > 0 needs zeroshot.tokenizer and at least one entry in [zeroshot.tasks]".into());
        }
        if let Some(task) = z
            .tasks
            .keys()
            .find(|t| !crate::zeroshot::ZERO_SHOT_TASKS.contains(&t.as_str()))
        {
            return Err(format!(
                "zeroshot.tasks.{task}: no zero-shot heuristic for it; expected one of {}",
                crate::zeroshot::ZERO_SHOT_TASKS.join(", ")
            ));
        }
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a RunConfig always serialises")
    }
}

fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), String> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| format!("--set {item:?}: expected key=value"))?;
    let value: toml::Value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let (last, sections) = parts.split_last().expect("split yields one part");
    let mut current = table;
    for section in sections {
        current = current
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("--set {key}: {section} is not a section"))?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        out_dir = "runs/x"
        [model]
        preset = "tiny"
        [data]
        dir = "data"
        [train]
        steps = 10
    "#;

    #[test]
    fn defaults_follow_the_paper() {
        let c = RunConfig::parse(BASE, &[]).unwrap();
        assert_eq!(
            c.optimizer,
            AdamConfig {
                lr: 2.5e-4,
                b1: 0.9,
                b2: 0.999,
                eps: 1e-8,
                l2: 0.01,
                vector_l2: false
            }
        );
        assert_eq!((c.train.warmup_steps, c.train.max_grad_norm), (2000, 1.0));
        assert_eq!(c.train.schedule, Schedule::WarmupCosine);
    }

    #[test]
    fn overrides_and_unknown_keys() {
        let c = RunConfig::parse(
            BASE,
            &[
                "optimizer.lr=1e-3".into(),
                "train.steps=5".into(),
                "out_dir=elsewhere".into(),
            ],
        )
        .unwrap();
        assert_eq!((c.optimizer.lr, c.train.steps), (1e-3, 5));
        assert_eq!(c.out_dir, PathBuf::from("elsewhere"));
        let err = RunConfig::parse(BASE, &["train.stpes=5".into()]).unwrap_err();
        assert!(err.contains("stpes"), "{err}");
        let err = RunConfig::parse(&format!("{BASE}\nlearning_rate = 3"), &[]).unwrap_err();
        assert!(err.contains("learning_rate"), "{err}");
    }

    #[test]
    fn zero_shot_tracking_needs_a_tokenizer_and_known_tasks() {
        let c = RunConfig::parse(BASE, &[]).unwrap();
        assert_eq!(c.zeroshot.every, 0);
        let err = RunConfig::parse(BASE, &["zeroshot.every=10".into()]).unwrap_err();
        assert!(err.contains("zeroshot.tokenizer"), "{err}");
        let tracked = [
            "zeroshot.every=10".into(),
            "zeroshot.tokenizer=\"tok\"".into(),
            "zeroshot.tasks.sst2=\"glue/SST-2\"".into(),
        ];
        let c = RunConfig::parse(BASE, &tracked).unwrap();
        assert_eq!(c.zeroshot.tasks["sst2"], PathBuf::from("glue/SST-2"));
        let err = RunConfig::parse(
            BASE,
            &[
                "zeroshot.every=10".into(),
                "zeroshot.tokenizer=t".into(),
                "zeroshot.tasks.mnli=x".into(),
            ],
        )
        .unwrap_err();
        assert!(err.contains("zeroshot.tasks.mnli"), "{err}");
        // The resolved configuration round-trips through the file the run directory keeps.
        assert_eq!(RunConfig::parse(&c.to_toml(), &[]).unwrap(), c);
    }
}
