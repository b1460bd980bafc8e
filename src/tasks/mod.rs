//! The paper's supervised tasks: loaders that validate their files, the metrics each task is
//! scored by, and the input transformations of section 3.3.

pub mod glue;
pub mod metrics;
pub mod storycloze;
pub mod transform;

use std::path::Path;

/// How a task's inputs are laid out and scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One text → a class.
    Classification,
    /// premise, hypothesis → a class.
    Entailment,
    /// Two texts, order-free → a class or a score.
    Similarity { regression: bool },
    /// A context and k answers → the right answer.
    MultipleChoice { choices: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Single(String),
    Pair(String, String),
    Choices { context: String, answers: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Label {
    Class(usize),
    Score(f32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The id used in prediction files (GLUE's `index`, else the row number).
    pub id: String,
    pub input: Input,
    pub label: Option<Label>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "train" => Ok(Split::Train),
            "dev" | "validation" => Ok(Split::Dev),
            "test" => Ok(Split::Test),
            other => Err(format!("unknown split {other:?} (train, dev, test)")),
        }
    }
}

/// What defines a task: its kind, label names (for prediction files) and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    /// Metric names; the first is the one model selection maximises.
    pub metrics: &'static [&'static str],
    /// GLUE submission file name, when it is a GLUE task.
    pub submission_file: Option<&'static str>,
}

const BINARY: &[&str] = &["0", "1"];
const ENTAIL2: &[&str] = &["entailment", "not_entailment"];

pub const TASKS: &[TaskSpec] = &[
    TaskSpec { name: "cola", kind: Kind::Classification, labels: BINARY, metrics: &["mcc", "accuracy"], submission_file: Some("CoLA.tsv") },
    TaskSpec { name: "sst2", kind: Kind::Classification, labels: BINARY, metrics: &["accuracy"], submission_file: Some("SST-2.tsv") },
    TaskSpec { name: "mrpc", kind: Kind::Similarity { regression: false }, labels: BINARY, metrics: &["f1", "accuracy"], submission_file: Some("MRPC.tsv") },
    TaskSpec { name: "stsb", kind: Kind::Similarity { regression: true }, labels: &[], metrics: &["pearson", "spearman"], submission_file: Some("STS-B.tsv") },
    TaskSpec { name: "qqp", kind: Kind::Similarity { regression: false }, labels: BINARY, metrics: &["f1", "accuracy"], submission_file: Some("QQP.tsv") },
    TaskSpec { name: "mnli", kind: Kind::Entailment, labels: &["contradiction", "entailment", "neutral"], metrics: &["accuracy"], submission_file: Some("MNLI-m.tsv") },
    TaskSpec { name: "mnli-mm", kind: Kind::Entailment, labels: &["contradiction", "entailment", "neutral"], metrics: &["accuracy"], submission_file: Some("MNLI-mm.tsv") },
    TaskSpec { name: "qnli", kind: Kind::Entailment, labels: ENTAIL2, metrics: &["accuracy"], submission_file: Some("QNLI.tsv") },
    TaskSpec { name: "rte", kind: Kind::Entailment, labels: ENTAIL2, metrics: &["accuracy"], submission_file: Some("RTE.tsv") },
    TaskSpec { name: "wnli", kind: Kind::Entailment, labels: BINARY, metrics: &["accuracy"], submission_file: Some("WNLI.tsv") },
    TaskSpec { name: "storycloze", kind: Kind::MultipleChoice { choices: 2 }, labels: &["1", "2"], metrics: &["accuracy"], submission_file: None },
];

pub fn spec(name: &str) -> Option<&'static TaskSpec> {
    TASKS.iter().find(|t| t.name == name)
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Row { path: std::path::PathBuf, line: usize, message: String },
    #[error("{0}")]
    Other(String),
}

/// Loads split `split` of task `name` from `dir` (the task's own directory, e.g.
/// `glue/CoLA` or the Story Cloze directory).
pub fn load(name: &str, dir: &Path, split: Split) -> Result<(&'static TaskSpec, Vec<Example>), TaskError> {
    let spec = spec(name).ok_or_else(|| {
        TaskError::Other(format!(
            "unknown task {name:?}; known: {}",
            TASKS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        ))
    })?;
    let examples = match name {
        "storycloze" => storycloze::load(dir, split)?,
        _ => glue::load(spec, dir, split)?,
    };
    Ok((spec, examples))
}
