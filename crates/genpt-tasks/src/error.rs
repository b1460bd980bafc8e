//! One error type for every loader. Each variant carries the file and, where it
//! makes sense, the 1-based line so a bad row in a 400k-line TSV can be found
//! with `sed -n Np` instead of a debugger.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: expected {expected} tab-separated columns, found {found}")]
    ColumnCount {
        path: PathBuf,
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("{path}:{line}: missing field `{field}`")]
    MissingField {
        path: PathBuf,
        line: usize,
        field: String,
    },
    #[error("{path}:{line}: unknown label `{label}` (expected one of: {expected})")]
    UnknownLabel {
        path: PathBuf,
        line: usize,
        label: String,
        expected: String,
    },
    #[error("{path}:{line}: {message}")]
    BadRow {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    BadFile { path: PathBuf, message: String },
    #[error("unknown task `{0}`")]
    UnknownTask(String),
    #[error("input transformation: {0}")]
    Transform(String),
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("task `{task}` has no {split} split")]
    NoSuchSplit { task: String, split: String },
}

impl TaskError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        TaskError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn bad_row(path: &std::path::Path, line: usize, message: impl Into<String>) -> Self {
        TaskError::BadRow {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
    pub(crate) fn missing(path: &std::path::Path, line: usize, field: &str) -> Self {
        TaskError::MissingField {
            path: path.to_path_buf(),
            line,
            field: field.to_string(),
        }
    }
    pub(crate) fn unknown_label(
        path: &std::path::Path,
        line: usize,
        label: &str,
        expected: &[&str],
    ) -> Self {
        TaskError::UnknownLabel {
            path: path.to_path_buf(),
            line,
            label: label.to_string(),
            expected: expected.join(", "),
        }
    }
}
