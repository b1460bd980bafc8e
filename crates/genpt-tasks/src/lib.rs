//! Fine-tuning tasks for genpt (GPT-1, Radford et al. 2018): validated
//! loaders for GLUE, SNLI, SciTail, RACE and Story Cloze; the section 3.3
//! input transformations and batch padding; metrics and GLUE scoring; GLUE
//! submission files. No model or tokenizer dependency: tokenization is passed
//! in as a closure.

pub mod custom;
pub mod error;
mod glue;
pub mod info;
pub mod metrics;
mod nli;
mod race;
pub mod registry;
pub mod shuffle;
pub mod storycloze;
pub mod submission;
pub mod task;
pub mod transform;
mod tsv;

pub use custom::{Columns, Labels};
pub use error::TaskError;
pub use info::{CustomKind, InputForm, TaskInfo, TASK_FILE};
pub use metrics::{
    accuracy, f1_binary, glue_average, matthews, pearson, score_task, spearman, TaskScore,
};
pub use registry::{load_task, task_spec, GLUE_TASKS, TASKS};
pub use submission::{format_predictions, glue_file_name, write_glue_submission};
pub use task::{Dataset, Example, Input, Label, Metric, Split, TaskKind, TaskSpec};
pub use transform::{encode, pad_batch, Batch, Encoded, SpecialIds};
