//! Where a fine-tuning command's examples come from (a benchmark's split, or the user's own
//! files), and what a fine-tuned model directory carries so that it is self-contained: the task
//! description (`task.json`, [`genpt_tasks::TaskInfo`]) and the tokenizer files it was trained
//! with. `eval`, `predict` and `serve` read both from the directory.

use std::path::{Path, PathBuf};

use anyhow::Context;
use genpt_tasks::{Columns, Example, Labels, SpecialIds, Split, TaskInfo};
use genpt_tokenizer::Tokenizer;

use super::task_bridge::{encode_example, special_ids, SPECIAL_NAMES};
use super::{EncodedExample, Prediction};

/// A task's examples: a benchmark read by its loader, or the user's files described by `info`.
#[derive(Debug, Clone)]
pub enum TaskSource {
    Benchmark { name: String, data: PathBuf },
    Files { info: TaskInfo, columns: Columns },
}

impl TaskSource {
    /// The examples of a benchmark's `split`, or of the user's file `file` (labels required or
    /// not). The benchmark's description comes with them.
    pub fn read(
        &self,
        split: Split,
        file: Option<&Path>,
        labels: Labels,
    ) -> anyhow::Result<(TaskInfo, Vec<Example>)> {
        match (self, file) {
            (TaskSource::Benchmark { name, data }, None) => {
                let dataset = genpt_tasks::load_task(name, data, split)?;
                if dataset.skipped > 0 {
                    eprintln!(
                        "{} {split}: {} rows without a gold label left out",
                        dataset.task.name, dataset.skipped
                    );
                }
                Ok((TaskInfo::from_spec(&dataset.task), dataset.examples))
            }
            (TaskSource::Benchmark { name, .. }, Some(file)) => {
                // A file in the benchmark's input form (its fields: `TaskInfo::fields`).
                let spec = genpt_tasks::task_spec(name)
                    .ok_or_else(|| genpt_tasks::TaskError::UnknownTask(name.clone()))?;
                let info = TaskInfo::from_spec(&spec);
                let examples =
                    genpt_tasks::custom::read_for(&info, file, &Columns::default(), labels)?;
                Ok((info, examples))
            }
            (TaskSource::Files { info, columns }, Some(file)) => Ok((
                info.clone(),
                genpt_tasks::custom::read_for(info, file, columns, labels)?,
            )),
            (TaskSource::Files { .. }, None) => anyhow::bail!("no {split} file given"),
        }
    }
}

/// Copies the tokenizer's vocabulary files into a model directory and writes `task.json`.
pub fn attach(dir: &Path, info: &TaskInfo, tokenizer_dir: &Path) -> anyhow::Result<()> {
    info.save(dir)?;
    let (encoder, merges) = genpt_tokenizer::vocab::find_files(tokenizer_dir)?;
    for file in [encoder, merges] {
        let name = file.file_name().expect("a vocabulary file has a name");
        if tokenizer_dir != dir {
            std::fs::copy(&file, dir.join(name))
                .with_context(|| format!("copying {}", file.display()))?;
        }
    }
    Ok(())
}

/// The task description of a fine-tuned model directory.
pub fn model_task(dir: &Path) -> anyhow::Result<TaskInfo> {
    TaskInfo::load(dir).with_context(|| {
        format!(
            "{}: no task description; models fine-tuned before task.json existed need --task",
            dir.display()
        )
    })
}

/// Adds the three special tokens to `tokenizer`, whose size must be the model's vocabulary.
pub fn add_specials(tokenizer: &mut Tokenizer, vocab_size: usize) -> anyhow::Result<SpecialIds> {
    anyhow::ensure!(
        tokenizer.vocab_size() == vocab_size,
        "the tokenizer has {} tokens but the model's vocabulary has {vocab_size}",
        tokenizer.vocab_size()
    );
    Ok(special_ids(&tokenizer.add_special_tokens(&SPECIAL_NAMES)))
}

/// `examples` through their task's input transformation.
pub fn encode_examples(
    tokenizer: &Tokenizer,
    specials: SpecialIds,
    info: &TaskInfo,
    examples: &[Example],
    n_ctx: usize,
) -> anyhow::Result<Vec<EncodedExample>> {
    let kind = info.task_kind();
    let tokenize = |t: &str| tokenizer.encode(t);
    use rayon::prelude::*;
    Ok(examples
        .par_iter()
        .map(|e| encode_example(e, &kind, &tokenize, specials, n_ctx))
        .collect::<Result<Vec<_>, _>>()?)
}

/// One prediction as a JSON object: the example's id, then `label` and `probabilities` (label →
/// probability) for classes, `label` (the choice's index), `answer` and `probabilities` for
/// multiple choice, or `score` for a regression.
pub fn prediction_json(
    info: &TaskInfo,
    example: &Example,
    prediction: &Prediction,
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert("id".into(), example.id.clone().into());
    match prediction {
        Prediction::Score(s) => {
            out.insert("score".into(), (*s as f64).into());
        }
        Prediction::Class {
            index,
            probabilities,
        } => {
            let name = |i: usize| info.labels.get(i).cloned().unwrap_or_else(|| i.to_string());
            if info.labels.is_empty() {
                out.insert("label".into(), (*index).into());
                if let genpt_tasks::Input::Choices { choices, .. } = &example.input {
                    out.insert("answer".into(), choices[*index].clone().into());
                }
            } else {
                out.insert("label".into(), name(*index).into());
            }
            let probabilities: serde_json::Map<String, serde_json::Value> = probabilities
                .iter()
                .enumerate()
                .map(|(i, p)| (name(i), (*p as f64).into()))
                .collect();
            out.insert("probabilities".into(), probabilities.into());
        }
    }
    serde_json::Value::Object(out)
}
