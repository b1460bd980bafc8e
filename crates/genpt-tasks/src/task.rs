//! The task-independent vocabulary: what a task is, what one example looks
//! like, and which split it came from. Loaders produce these; the transform
//! and metrics modules consume them, so the model side never sees file formats.

use std::fmt;

/// The shape of the prediction head a task needs (paper, section 3.3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TaskKind {
    /// One text, one of `n_classes` labels (CoLA, SST-2).
    Classification { n_classes: usize },
    /// Premise/hypothesis pair (MNLI, SNLI, QNLI, RTE, WNLI, SciTail).
    Entailment { n_classes: usize },
    /// Symmetric pair: both orderings are encoded and their representations summed.
    /// `regression` is true for STS-B (a score), false for MRPC/QQP (binary).
    Similarity { regression: bool },
    /// Context + question, one candidate per sequence, softmax over candidates.
    MultipleChoice { n_choices: usize },
}

impl TaskKind {
    /// Number of output units of the classifier: classes, 1 for regression,
    /// 1 per choice (scored then softmaxed across choices).
    pub fn n_outputs(&self) -> usize {
        match *self {
            TaskKind::Classification { n_classes } | TaskKind::Entailment { n_classes } => {
                n_classes
            }
            TaskKind::Similarity { regression: true } => 1,
            TaskKind::Similarity { regression: false } => 2,
            TaskKind::MultipleChoice { .. } => 1,
        }
    }
}

/// Metrics a task is scored with; the first is the headline number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Accuracy,
    F1,
    Matthews,
    Pearson,
    Spearman,
}

impl Metric {
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::F1 => "f1",
            Metric::Matthews => "mcc",
            Metric::Pearson => "pearson",
            Metric::Spearman => "spearman",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// Canonical lower-case name as accepted by `load_task`, e.g. "mnli-mm".
    pub name: String,
    pub kind: TaskKind,
    /// Label names indexed by class id, exactly as written in GLUE submissions.
    /// Empty for regression and multiple choice.
    pub label_names: Vec<String>,
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Single(String),
    Pair(String, String),
    /// `question` is empty where the task has none (Story Cloze).
    Choices {
        context: String,
        question: String,
        choices: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Label {
    Class(usize),
    Score(f32),
}

impl Label {
    pub fn class(&self) -> Option<usize> {
        match *self {
            Label::Class(c) => Some(c),
            Label::Score(_) => None,
        }
    }
    pub fn score(&self) -> Option<f32> {
        match *self {
            Label::Score(s) => Some(s),
            Label::Class(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The id the official submission format wants back (GLUE `index`), or a
    /// stable id from the source file; `file:line` where the file has none.
    pub id: String,
    pub input: Input,
    /// None on unlabeled test splits.
    pub label: Option<Label>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        })
    }
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "dev" | "validation" | "val" => Ok(Split::Dev),
            "test" => Ok(Split::Test),
            other => Err(format!("unknown split `{other}` (train, dev, test)")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub task: TaskSpec,
    pub split: Split,
    pub examples: Vec<Example>,
    /// Rows the loader deliberately dropped (SNLI `-` gold labels), so a caller
    /// can report them rather than wonder where they went.
    pub skipped: usize,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.examples.len()
    }
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }
    pub fn is_labeled(&self) -> bool {
        self.examples.iter().all(|e| e.label.is_some())
    }
}
