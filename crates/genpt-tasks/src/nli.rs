//! SNLI (jsonl) and SciTail (tsv or SNLI-style jsonl) loaders.

use crate::error::TaskError;
use crate::glue::{parse_label, LabelParse, NLI3};
use crate::task::{Example, Input};
use crate::tsv::{check_columns, field, read_text, Tsv};
use std::path::Path;

pub(crate) const SCITAIL_LABELS: &[&str] = &["entails", "neutral"];

type JsonObject = serde_json::Map<String, serde_json::Value>;

/// One JSON object per line; returns (1-based line, object) for non-blank lines.
fn jsonl(path: &Path) -> Result<Vec<(usize, JsonObject)>, TaskError> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, l) in text.split('\n').enumerate() {
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(l) {
            Ok(serde_json::Value::Object(m)) => out.push((i + 1, m)),
            Ok(_) => return Err(TaskError::bad_row(path, i + 1, "expected a JSON object")),
            Err(e) => {
                return Err(TaskError::bad_row(
                    path,
                    i + 1,
                    format!("invalid JSON: {e}"),
                ))
            }
        }
    }
    Ok(out)
}

fn str_field<'a>(
    path: &Path,
    line: usize,
    obj: &'a JsonObject,
    key: &str,
) -> Result<&'a str, TaskError> {
    obj.get(key)
        .and_then(|v| v.as_str())
        .ok_or_else(|| TaskError::missing(path, line, key))
}

/// SNLI / MultiNLI-style jsonl: `sentence1`, `sentence2`, `gold_label`.
/// `gold_label == "-"` means the five annotators had no majority; SNLI's own
/// README says to drop those, so they are skipped and counted, not errors.
/// `map` renames labels before lookup (SciTail jsonl says "entailment" where
/// its tsv says "entails").
pub(crate) fn load_nli_jsonl(
    path: &Path,
    names: &[&str],
    map: &dyn Fn(&str) -> String,
) -> Result<(Vec<Example>, usize), TaskError> {
    let mut out = Vec::new();
    let mut skipped = 0;
    for (line, obj) in jsonl(path)? {
        let gold = str_field(path, line, &obj, "gold_label")?;
        if gold.trim() == "-" {
            skipped += 1;
            continue;
        }
        let s1 = str_field(path, line, &obj, "sentence1")?;
        let s2 = str_field(path, line, &obj, "sentence2")?;
        let label = parse_label(path, line, &map(gold.trim()), LabelParse::Names(names))?;
        let id = obj
            .get("pairID")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}:{line}", path.display()));
        out.push(Example {
            id,
            input: Input::Pair(s1.to_string(), s2.to_string()),
            label: Some(label),
        });
    }
    Ok((out, skipped))
}

pub(crate) fn load_snli(path: &Path) -> Result<(Vec<Example>, usize), TaskError> {
    load_nli_jsonl(path, NLI3, &|s| s.to_string())
}

/// SciTail `tsv_format`: no header, `premise \t hypothesis \t entails|neutral`.
pub(crate) fn load_scitail_tsv(path: &Path) -> Result<Vec<Example>, TaskError> {
    let tsv = Tsv::open(path)?;
    let mut out = Vec::new();
    for (i, row) in tsv.rows().iter().enumerate() {
        check_columns(path, row, 3)?;
        let label = parse_label(
            path,
            row.line,
            field(path, row, 2, "label")?,
            LabelParse::Names(SCITAIL_LABELS),
        )?;
        out.push(Example {
            id: i.to_string(),
            input: Input::Pair(row.fields[0].to_string(), row.fields[1].to_string()),
            label: Some(label),
        });
    }
    Ok(out)
}

/// SciTail `snli_format` jsonl, labels "entailment"/"neutral".
pub(crate) fn load_scitail_jsonl(path: &Path) -> Result<(Vec<Example>, usize), TaskError> {
    load_nli_jsonl(path, SCITAIL_LABELS, &|s| {
        if s == "entailment" {
            "entails".into()
        } else {
            s.to_string()
        }
    })
}
