//! Minimal GLUE-style TSV reading: split on '\n' and '\t', nothing else.
//!
//! GLUE files must NOT go through a CSV/TSV parser that honours quotes: MRPC,
//! SST-2 and MNLI contain unbalanced `"` inside sentences, and a quoting reader
//! silently glues rows together (the reason the GLUE baseline passes
//! `quoting=csv.QUOTE_NONE`). Sentences never contain tabs, so a plain split is exact.

use crate::error::TaskError;
use std::path::Path;

pub(crate) struct Row<'a> {
    /// 1-based line number in the file, for error messages.
    pub line: usize,
    pub fields: Vec<&'a str>,
}

pub(crate) struct Tsv {
    text: String,
}

pub(crate) fn read_text(path: &Path) -> Result<String, TaskError> {
    let bytes = std::fs::read(path).map_err(|e| TaskError::io(path, e))?;
    let mut text = String::from_utf8(bytes).map_err(|e| TaskError::BadFile {
        path: path.to_path_buf(),
        message: format!("not valid UTF-8: {e}"),
    })?;
    // MRPC's files start with a UTF-8 byte-order mark that would otherwise
    // become part of the first header name ("\u{feff}Quality").
    if text.starts_with('\u{feff}') {
        text.drain(..3);
    }
    Ok(text)
}

impl Tsv {
    pub fn open(path: &Path) -> Result<Self, TaskError> {
        Ok(Tsv {
            text: read_text(path)?,
        })
    }

    /// All non-empty lines, split on tabs, with `\r` stripped (files edited on
    /// Windows). Blank lines carry no example and are skipped.
    pub fn rows(&self) -> Vec<Row<'_>> {
        self.text
            .split('\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
            .filter(|(_, l)| !l.is_empty())
            .map(|(line, l)| Row {
                line,
                fields: l.split('\t').collect(),
            })
            .collect()
    }
}

/// Column positions resolved from a header row by name.
pub(crate) struct Header {
    names: Vec<String>,
}

impl Header {
    pub fn new(row: &Row<'_>) -> Self {
        Header {
            names: row.fields.iter().map(|s| s.trim().to_string()).collect(),
        }
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn find(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
    /// Like `find`, but a missing column is an error naming the header line.
    pub fn require(&self, path: &Path, line: usize, name: &str) -> Result<usize, TaskError> {
        self.find(name).ok_or_else(|| TaskError::BadRow {
            path: path.to_path_buf(),
            line,
            message: format!(
                "header has no `{name}` column (found: {})",
                self.names.join(", ")
            ),
        })
    }
}

pub(crate) fn check_columns(path: &Path, row: &Row<'_>, expected: usize) -> Result<(), TaskError> {
    if row.fields.len() != expected {
        return Err(TaskError::ColumnCount {
            path: path.to_path_buf(),
            line: row.line,
            expected,
            found: row.fields.len(),
        });
    }
    Ok(())
}

/// A required, non-empty field.
pub(crate) fn field<'a>(
    path: &Path,
    row: &Row<'a>,
    col: usize,
    name: &str,
) -> Result<&'a str, TaskError> {
    match row.fields.get(col) {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(TaskError::missing(path, row.line, name)),
    }
}
