//! What a fine-tuned model directory says about its task (`task.json`), so that `eval`,
//! `predict` and `serve` need nothing but the directory: the task's name, its kind, the form of
//! its input, and the label each output stands for.
//!
//! ```json
//! {"task": "custom", "kind": "classification", "input": "text", "fields": ["text"],
//!  "labels": ["negative", "positive"], "n_choices": null, "metrics": ["accuracy"],
//!  "columns": {"text": ["review"], "label": ["sentiment"]}}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::TaskError;
use crate::task::{Metric, TaskKind, TaskSpec};

/// The file name in a fine-tuned model directory.
pub const TASK_FILE: &str = "task.json";

/// The task kinds a user's own files can have (`--kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomKind {
    Classification,
    Entailment,
    Similarity,
    Regression,
    Choice,
}

impl std::str::FromStr for CustomKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "classification" => CustomKind::Classification,
            "entailment" => CustomKind::Entailment,
            "similarity" => CustomKind::Similarity,
            "regression" => CustomKind::Regression,
            "choice" | "multiple-choice" => CustomKind::Choice,
            other => {
                return Err(format!(
                    "unknown kind {other:?} (classification, entailment, similarity, regression, choice)"
                ))
            }
        })
    }
}

impl CustomKind {
    /// The input form of this kind; for regression, one `text` if the file has that field, else
    /// the pair `a`, `b`.
    pub fn input_form(self, has_field: impl Fn(&str) -> bool) -> InputForm {
        match self {
            CustomKind::Classification => InputForm::Text,
            CustomKind::Entailment | CustomKind::Similarity => InputForm::Pair,
            CustomKind::Regression if has_field("text") => InputForm::Text,
            CustomKind::Regression => InputForm::Pair,
            CustomKind::Choice => InputForm::Choices,
        }
    }

    /// The field names of a pair input.
    pub fn pair_fields(self) -> (&'static str, &'static str) {
        match self {
            CustomKind::Entailment => ("premise", "hypothesis"),
            _ => ("a", "b"),
        }
    }
}

/// One text, an ordered pair, or a context with candidate answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputForm {
    Text,
    Pair,
    Choices,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskInfo {
    /// `custom`, or the benchmark's name (`rte`, `stsb`, ...).
    pub task: String,
    pub kind: CustomKind,
    pub input: InputForm,
    /// The input's field names in order, as requests and files give them.
    pub fields: Vec<String>,
    /// The label each class output stands for; empty for regression and choice.
    pub labels: Vec<String>,
    /// Candidates per example (choice).
    pub n_choices: Option<usize>,
    /// Metric names, headline first.
    pub metrics: Vec<String>,
    /// The column names the training files used (field → columns), the default for later files.
    #[serde(default)]
    pub columns: BTreeMap<String, Vec<String>>,
}

fn fields_of(kind: CustomKind, input: InputForm) -> Vec<String> {
    let names: Vec<&str> = match input {
        InputForm::Text => vec!["text"],
        InputForm::Pair => {
            let (a, b) = kind.pair_fields();
            vec![a, b]
        }
        InputForm::Choices => vec!["context", "question", "choices"],
    };
    names.into_iter().map(str::to_string).collect()
}

fn metric_from_name(name: &str) -> Option<Metric> {
    [
        Metric::Accuracy,
        Metric::F1,
        Metric::Matthews,
        Metric::Pearson,
        Metric::Spearman,
    ]
    .into_iter()
    .find(|m| m.name() == name)
}

impl TaskInfo {
    /// A task defined by the user's training file.
    pub fn custom(
        kind: CustomKind,
        input: InputForm,
        labels: Vec<String>,
        n_choices: Option<usize>,
        columns: BTreeMap<String, Vec<String>>,
    ) -> Self {
        let metrics = match kind {
            CustomKind::Regression => vec![Metric::Pearson, Metric::Spearman],
            CustomKind::Similarity => vec![Metric::Accuracy, Metric::F1],
            _ => vec![Metric::Accuracy],
        };
        TaskInfo {
            task: "custom".into(),
            kind,
            input,
            fields: fields_of(kind, input),
            labels,
            n_choices,
            metrics: metrics.iter().map(|m| m.name().to_string()).collect(),
            columns,
        }
    }

    /// The description of a benchmark task.
    pub fn from_spec(spec: &TaskSpec) -> Self {
        let (kind, input, n_choices) = match spec.kind {
            TaskKind::Classification { n_classes: 1 } => {
                (CustomKind::Regression, InputForm::Text, None)
            }
            TaskKind::Classification { .. } => (CustomKind::Classification, InputForm::Text, None),
            TaskKind::Entailment { .. } => (CustomKind::Entailment, InputForm::Pair, None),
            TaskKind::Similarity { regression: true } => {
                (CustomKind::Regression, InputForm::Pair, None)
            }
            TaskKind::Similarity { regression: false } => {
                (CustomKind::Similarity, InputForm::Pair, None)
            }
            TaskKind::MultipleChoice { n_choices } => {
                (CustomKind::Choice, InputForm::Choices, Some(n_choices))
            }
        };
        TaskInfo {
            task: spec.name.clone(),
            kind,
            input,
            fields: fields_of(kind, input),
            labels: spec.label_names.clone(),
            n_choices,
            metrics: spec.metrics.iter().map(|m| m.name().to_string()).collect(),
            columns: BTreeMap::new(),
        }
    }

    /// The head shape the model needs. A regression over one text is a one-output head on the
    /// text's classify token, scored as a regression (its metrics are Pearson and Spearman).
    pub fn task_kind(&self) -> TaskKind {
        let n_classes = self.labels.len();
        match (self.kind, self.input) {
            (CustomKind::Classification, _) => TaskKind::Classification { n_classes },
            (CustomKind::Entailment, _) => TaskKind::Entailment { n_classes },
            (CustomKind::Similarity, _) => TaskKind::Similarity { regression: false },
            (CustomKind::Regression, InputForm::Text) => TaskKind::Classification { n_classes: 1 },
            (CustomKind::Regression, _) => TaskKind::Similarity { regression: true },
            (CustomKind::Choice, _) => TaskKind::MultipleChoice {
                n_choices: self.n_choices.unwrap_or(0),
            },
        }
    }

    /// The spec the metrics and input transformations work from.
    pub fn to_spec(&self) -> TaskSpec {
        TaskSpec {
            name: self.task.clone(),
            kind: self.task_kind(),
            label_names: self.labels.clone(),
            metrics: self
                .metrics
                .iter()
                .filter_map(|m| metric_from_name(m))
                .collect(),
        }
    }

    pub fn is_regression(&self) -> bool {
        self.kind == CustomKind::Regression
    }

    pub fn save(&self, dir: &Path) -> Result<(), TaskError> {
        let path = dir.join(TASK_FILE);
        let text = serde_json::to_string_pretty(self).expect("a task description serialises");
        std::fs::write(&path, text).map_err(|e| TaskError::io(&path, e))
    }

    /// Reads `DIR/task.json`.
    pub fn load(dir: &Path) -> Result<Self, TaskError> {
        let path = dir.join(TASK_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| TaskError::io(&path, e))?;
        let info: TaskInfo = serde_json::from_str(&text).map_err(|e| TaskError::BadRow {
            path: path.clone(),
            line: e.line(),
            message: format!("not a task description: {e}"),
        })?;
        if let Some(bad) = info.metrics.iter().find(|m| metric_from_name(m).is_none()) {
            return Err(TaskError::BadFile {
                path,
                message: format!("unknown metric {bad:?}"),
            });
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benchmark_specs_round_trip() {
        for name in crate::TASKS {
            let spec = crate::task_spec(name).unwrap();
            let info = TaskInfo::from_spec(&spec);
            let back = info.to_spec();
            assert_eq!(back, spec, "{name}");
        }
    }

    #[test]
    fn saved_and_loaded() {
        let dir = std::env::temp_dir().join(format!("genpt-info-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let info = TaskInfo::custom(
            CustomKind::Entailment,
            InputForm::Pair,
            vec!["no".into(), "yes".into()],
            None,
            BTreeMap::new(),
        );
        info.save(&dir).unwrap();
        assert_eq!(TaskInfo::load(&dir).unwrap(), info);
        assert_eq!(info.fields, ["premise", "hypothesis"]);
        std::fs::write(dir.join(TASK_FILE), "{\"task\": 3}").unwrap();
        let err = TaskInfo::load(&dir).unwrap_err().to_string();
        assert!(err.contains("task.json:1"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
