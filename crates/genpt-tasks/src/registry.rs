//! Task names → specs and loaders. The one place that knows where each task's
//! files live.
//!
//! `data_dir` may be either the task's own directory (e.g. `.../glue/CoLA`) or
//! any ancestor layout we know: `<data_dir>/<Dir>` or `<data_dir>/glue/<Dir>`
//! for GLUE, `<data_dir>/<Dir>` for the others. The first existing candidate wins.

use crate::error::TaskError;
use crate::glue;
use crate::nli;
use crate::race;
use crate::storycloze;
use crate::task::{Dataset, Metric, Split, TaskKind, TaskSpec};
use std::path::{Path, PathBuf};

/// Every name `load_task` accepts.
pub const TASKS: &[&str] = &[
    "cola",
    "sst2",
    "mrpc",
    "stsb",
    "qqp",
    "mnli",
    "mnli-mm",
    "qnli",
    "rte",
    "wnli",
    "ax",
    "snli",
    "scitail",
    "race",
    "race-middle",
    "race-high",
    "storycloze",
];

/// The GLUE tasks that count toward the GLUE average (MNLI as m and mm).
pub const GLUE_TASKS: &[&str] = &[
    "cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "mnli-mm", "qnli", "rte", "wnli",
];

pub fn task_spec(name: &str) -> Option<TaskSpec> {
    use Metric::*;
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (kind, labels, metrics) = match name {
        "cola" => (
            TaskKind::Classification { n_classes: 2 },
            names(&["0", "1"]),
            vec![Matthews],
        ),
        "sst2" => (
            TaskKind::Classification { n_classes: 2 },
            names(&["0", "1"]),
            vec![Accuracy],
        ),
        "mrpc" | "qqp" => (
            TaskKind::Similarity { regression: false },
            names(&["0", "1"]),
            vec![F1, Accuracy],
        ),
        "stsb" => (
            TaskKind::Similarity { regression: true },
            vec![],
            vec![Pearson, Spearman],
        ),
        "mnli" | "mnli-mm" | "snli" | "ax" => (
            TaskKind::Entailment { n_classes: 3 },
            names(glue::NLI3),
            vec![Accuracy],
        ),
        "qnli" | "rte" => (
            TaskKind::Entailment { n_classes: 2 },
            names(&["entailment", "not_entailment"]),
            vec![Accuracy],
        ),
        "wnli" => (
            TaskKind::Entailment { n_classes: 2 },
            names(&["0", "1"]),
            vec![Accuracy],
        ),
        "scitail" => (
            TaskKind::Entailment { n_classes: 2 },
            names(nli::SCITAIL_LABELS),
            vec![Accuracy],
        ),
        "race" | "race-middle" | "race-high" => (
            TaskKind::MultipleChoice { n_choices: 4 },
            vec![],
            vec![Accuracy],
        ),
        "storycloze" => (
            TaskKind::MultipleChoice { n_choices: 2 },
            vec![],
            vec![Accuracy],
        ),
        _ => return None,
    };
    Some(TaskSpec {
        name: name.to_string(),
        kind,
        label_names: labels,
        metrics,
    })
}

/// First existing directory among `candidates` (relative to `data_dir`), else `data_dir` itself.
fn resolve(data_dir: &Path, candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(|c| data_dir.join(c))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| data_dir.to_path_buf())
}

/// Load one split of a task. See the module docs for how `data_dir` is resolved.
pub fn load_task(name: &str, data_dir: &Path, split: Split) -> Result<Dataset, TaskError> {
    let spec = task_spec(name).ok_or_else(|| TaskError::UnknownTask(name.to_string()))?;
    let glue_dir = |d: &str| resolve(data_dir, &[d, &format!("glue/{d}")]);
    let split_name = |train: &str, dev: &str, test: &str| match split {
        Split::Train => train.to_string(),
        Split::Dev => dev.to_string(),
        Split::Test => test.to_string(),
    };
    match name {
        "cola" => glue::load(name, spec, &glue_dir("CoLA"), split),
        "sst2" => glue::load(name, spec, &glue_dir("SST-2"), split),
        "mrpc" => glue::load(name, spec, &glue_dir("MRPC"), split),
        "stsb" => glue::load(name, spec, &glue_dir("STS-B"), split),
        "qqp" => glue::load(name, spec, &glue_dir("QQP"), split),
        "mnli" | "mnli-mm" => glue::load(name, spec, &glue_dir("MNLI"), split),
        "qnli" => glue::load(name, spec, &glue_dir("QNLI"), split),
        "rte" => glue::load(name, spec, &glue_dir("RTE"), split),
        "wnli" => glue::load(name, spec, &glue_dir("WNLI"), split),
        "ax" => glue::load(name, spec, &resolve(data_dir, &["AX", "glue"]), split),
        "snli" => {
            let dir = resolve(data_dir, &["snli_1.0", "SNLI"]);
            let (examples, skipped) = nli::load_snli(&dir.join(format!(
                "snli_1.0_{}.jsonl",
                split_name("train", "dev", "test")
            )))?;
            Ok(Dataset {
                task: spec,
                split,
                examples,
                skipped,
            })
        }
        "scitail" => {
            let dir = resolve(data_dir, &["SciTailV1.1", "SciTail"]);
            let s = split_name("train", "dev", "test");
            let tsv = [
                dir.join("tsv_format").join(format!("scitail_1.0_{s}.tsv")),
                dir.join(format!("scitail_1.0_{s}.tsv")),
            ];
            if let Some(p) = tsv.iter().find(|p| p.is_file()) {
                return Ok(Dataset {
                    task: spec,
                    split,
                    examples: nli::load_scitail_tsv(p)?,
                    skipped: 0,
                });
            }
            let jsonl = [
                dir.join("snli_format").join(format!("scitail_1.0_{s}.txt")),
                dir.join(format!("scitail_1.0_{s}.jsonl")),
            ];
            let p = jsonl.iter().find(|p| p.is_file()).unwrap_or(&tsv[0]);
            let (examples, skipped) = nli::load_scitail_jsonl(p)?;
            Ok(Dataset {
                task: spec,
                split,
                examples,
                skipped,
            })
        }
        "race" | "race-middle" | "race-high" => {
            let dir = resolve(data_dir, &["RACE"]).join(split_name("train", "dev", "test"));
            let levels: &[&str] = match name {
                "race-middle" => &["middle"],
                "race-high" => &["high"],
                _ => &["middle", "high"],
            };
            let mut examples = Vec::new();
            for l in levels {
                examples.extend(race::load_dir(&dir.join(l))?);
            }
            Ok(Dataset {
                task: spec,
                split,
                examples,
                skipped: 0,
            })
        }
        "storycloze" => {
            let dir = resolve(data_dir, &["storycloze", "StoryCloze"]);
            if split == Split::Test {
                let examples = storycloze::load_csv(&dir.join(storycloze::TEST_FILE))?;
                return Ok(Dataset {
                    task: spec,
                    split,
                    examples,
                    skipped: 0,
                });
            }
            let all = storycloze::load_csv(&dir.join(storycloze::VAL_FILE))?;
            let (train, dev) = storycloze::split_indices(all.len());
            let keep = if split == Split::Train { train } else { dev };
            let examples = keep.into_iter().map(|i| all[i].clone()).collect();
            Ok(Dataset {
                task: spec,
                split,
                examples,
                skipped: 0,
            })
        }
        _ => Err(TaskError::UnknownTask(name.to_string())),
    }
}
