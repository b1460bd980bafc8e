//! A record of the first updates of a fine-tuning run, for checking the trajectory against an
//! independent implementation (`scripts/finetune_parity.py`, in PyTorch with transformers).
//!
//! `OUT/trace/` holds
//! - `initial/`: the classifier before the first update (transformer with its special rows, head);
//! - `train.jsonl`, `dev.jsonl`: the encoded examples (token ids per sequence, classify positions,
//!   label), exactly as the loop sees them;
//! - `config.json`: the fine-tuning settings, the update count and the warmup;
//! - `updates.jsonl`: per update, the training-example indices in order, the losses, the gradient
//!   norm and the learning rate;
//! - `after.json`: the norm of every parameter after the last traced update.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::classifier::Classifier;
use super::{EncodedExample, FinetuneConfig, Target};

pub struct Trace {
    dir: PathBuf,
    updates: std::fs::File,
}

/// One line of `train.jsonl` / `dev.jsonl`: an encoded example with its class or score.
#[derive(serde::Serialize, serde::Deserialize)]
struct TraceExample {
    sequences: Vec<Vec<u32>>,
    classify_at: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
}

fn write_jsonl(path: &Path, examples: &[EncodedExample]) -> anyhow::Result<()> {
    let mut text = String::new();
    for e in examples {
        let (label, score) = match e.target {
            Some(Target::Class(c)) => (Some(c), None),
            Some(Target::Score(s)) => (None, Some(s as f64)),
            None => (None, None),
        };
        let line = TraceExample {
            sequences: e.sequences.clone(),
            classify_at: e.classify_at.clone(),
            label,
            score,
        };
        text.push_str(&serde_json::to_string(&line)?);
        text.push('\n');
    }
    crate::files::write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// Reads the examples of a trace's `train.jsonl` or `dev.jsonl`; errors name the file and line.
pub fn read_examples(path: &Path) -> anyhow::Result<Vec<EncodedExample>> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let e: TraceExample = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a traced example", path.display(), i + 1))?;
            let target = match (e.label, e.score) {
                (Some(c), _) => Some(Target::Class(c)),
                (None, Some(s)) => Some(Target::Score(s as f32)),
                (None, None) => None,
            };
            Ok(EncodedExample {
                sequences: e.sequences,
                classify_at: e.classify_at,
                target,
            })
        })
        .collect()
}

/// The L2 norm of every parameter by checkpoint name, the head's as `head.weight` and
/// `head.bias`, and the appended special-token rows on their own as `tokens_embed.special`
/// (a few rows of a large matrix, whose movement the whole matrix's norm would hide).
pub fn parameter_norms(model: &Classifier) -> BTreeMap<String, f64> {
    let norm = |values: &[f32]| {
        values
            .iter()
            .map(|&v| (v as f64) * (v as f64))
            .sum::<f64>()
            .sqrt()
    };
    let mut out = BTreeMap::new();
    for (name, tensor) in crate::weights::export(&model.gpt) {
        if name == "tokens_embed" {
            let start = model.gpt.config().vocab_size * model.gpt.config().n_embd;
            out.insert(
                "tokens_embed.special".to_string(),
                norm(&tensor.values[start..]),
            );
        }
        out.insert(name, norm(&tensor.values));
    }
    for (name, tensor) in [
        ("head.weight", model.head.weight.val()),
        ("head.bias", model.head.bias.val().unsqueeze::<2>()),
    ] {
        out.insert(
            name.to_string(),
            norm(&crate::weights::HostTensor::from_tensor(&tensor).values),
        );
    }
    out
}

impl Trace {
    pub fn start(
        dir: &Path,
        model: &Classifier,
        train: &[EncodedExample],
        dev: &[EncodedExample],
        config: &FinetuneConfig,
        total_updates: u64,
        warmup_steps: u64,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        super::model_dir::save(model, &dir.join("initial"))?;
        write_jsonl(&dir.join("train.jsonl"), train)?;
        write_jsonl(&dir.join("dev.jsonl"), dev)?;
        let settings = serde_json::json!({
            "finetune": config,
            "total_updates": total_updates,
            "warmup_steps": warmup_steps,
            "schedule": "warmup_linear",
            "adam": crate::train::AdamConfig { lr: config.lr, l2: config.l2, ..Default::default() },
        });
        crate::files::write_atomic(
            &dir.join("config.json"),
            serde_json::to_string_pretty(&settings)?.as_bytes(),
        )?;
        let updates = std::fs::File::create(dir.join("updates.jsonl"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            updates,
        })
    }

    /// Records one update (`record` as logged, `examples` the training indices it used); after
    /// the last traced one, the parameter norms.
    pub fn update(
        &mut self,
        record: &serde_json::Value,
        examples: &[usize],
        model: &Classifier,
        last: bool,
    ) -> anyhow::Result<()> {
        let mut line = record.clone();
        line["examples"] = examples.into();
        line.as_object_mut().map(|o| o.remove("tokens_per_s"));
        writeln!(self.updates, "{line}")?;
        if last {
            self.updates.flush()?;
            let after = serde_json::json!({ "updates": record["step"], "parameter_norms": parameter_norms(model) });
            crate::files::write_atomic(
                &self.dir.join("after.json"),
                serde_json::to_string_pretty(&after)?.as_bytes(),
            )?;
        }
        Ok(())
    }
}
