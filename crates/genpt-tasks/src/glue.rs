//! GLUE TSV loaders (CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI, AX).
//!
//! Columns are located by header name wherever the file has a header, because
//! the GLUE files of different releases disagree on column order and count
//! (MNLI train has one annotator label, dev has five). Only CoLA train/dev have
//! no header and are read positionally. Every data row must have exactly as many
//! tab-separated fields as the header: a mismatch means a broken file, and
//! guessing would silently shift a sentence into the label.

use crate::error::TaskError;
use crate::task::{Dataset, Example, Input, Label, Split, TaskSpec};
use crate::tsv::{check_columns, field, Header, Tsv};
use std::path::Path;

/// How the label column is interpreted.
#[derive(Clone, Copy)]
pub(crate) enum LabelParse<'a> {
    /// The string must equal one of these names; the class is its index.
    Names(&'a [&'a str]),
    /// A float within `[min, max]` (STS-B: 0–5).
    Score { min: f32, max: f32 },
}

pub(crate) fn parse_label(
    path: &Path,
    line: usize,
    raw: &str,
    how: LabelParse<'_>,
) -> Result<Label, TaskError> {
    let raw = raw.trim();
    match how {
        LabelParse::Names(names) => names
            .iter()
            .position(|n| *n == raw)
            .map(Label::Class)
            .ok_or_else(|| TaskError::unknown_label(path, line, raw, names)),
        LabelParse::Score { min, max } => match raw.parse::<f32>() {
            Ok(v) if v.is_finite() && v >= min && v <= max => Ok(Label::Score(v)),
            _ => Err(TaskError::bad_row(
                path,
                line,
                format!("score `{raw}` is not a number in [{min}, {max}]"),
            )),
        },
    }
}

/// Description of one headed GLUE file layout.
pub(crate) struct Layout<'a> {
    /// Column holding the submission id (`index`); None → the 0-based row number.
    pub id: Option<&'a str>,
    /// One column (single sentence) or two (pair), by header name.
    pub texts: &'a [&'a str],
    pub label: &'a str,
    pub parse: LabelParse<'a>,
}

/// Read a headed GLUE TSV. Test splits (`labeled == false`) must not need the
/// label column; train/dev must have it.
pub(crate) fn load_headed(
    path: &Path,
    layout: &Layout<'_>,
    labeled: bool,
) -> Result<Vec<Example>, TaskError> {
    let tsv = Tsv::open(path)?;
    let rows = tsv.rows();
    let Some(head) = rows.first() else {
        return Err(TaskError::BadFile {
            path: path.to_path_buf(),
            message: "empty file (no header)".into(),
        });
    };
    let header = Header::new(head);
    let id_col = match layout.id {
        Some(name) => Some(header.require(path, head.line, name)?),
        None => None,
    };
    let text_cols = layout
        .texts
        .iter()
        .map(|n| header.require(path, head.line, n))
        .collect::<Result<Vec<_>, _>>()?;
    let label_col = if labeled {
        Some(header.require(path, head.line, layout.label)?)
    } else {
        None
    };

    let mut out = Vec::with_capacity(rows.len().saturating_sub(1));
    for (i, row) in rows[1..].iter().enumerate() {
        check_columns(path, row, header.len())?;
        let id = match id_col {
            Some(c) => field(path, row, c, layout.id.unwrap_or("index"))?
                .trim()
                .to_string(),
            None => i.to_string(),
        };
        // Sentences may legitimately be empty (a handful of QQP/MNLI rows are);
        // the column-count check above already guarantees the field exists.
        let text = |k: usize| row.fields[text_cols[k]].to_string();
        let input = if text_cols.len() == 1 {
            Input::Single(text(0))
        } else {
            Input::Pair(text(0), text(1))
        };
        let label = match label_col {
            Some(c) => Some(parse_label(
                path,
                row.line,
                field(path, row, c, layout.label)?,
                layout.parse,
            )?),
            None => None,
        };
        out.push(Example { id, input, label });
    }
    Ok(out)
}

/// CoLA train/dev: no header, four columns `source, label, original mark, sentence`.
pub(crate) fn load_cola_headerless(path: &Path) -> Result<Vec<Example>, TaskError> {
    let tsv = Tsv::open(path)?;
    let mut out = Vec::new();
    for (i, row) in tsv.rows().iter().enumerate() {
        check_columns(path, row, 4)?;
        let label = parse_label(
            path,
            row.line,
            field(path, row, 1, "label")?,
            LabelParse::Names(&["0", "1"]),
        )?;
        out.push(Example {
            id: i.to_string(),
            input: Input::Single(row.fields[3].to_string()),
            label: Some(label),
        });
    }
    Ok(out)
}

const BINARY: &[&str] = &["0", "1"];
pub(crate) const NLI3: &[&str] = &["contradiction", "entailment", "neutral"];
const NLI2: &[&str] = &["entailment", "not_entailment"];

/// Load one GLUE task from its directory (the one holding train.tsv etc.).
pub(crate) fn load(
    name: &str,
    spec: TaskSpec,
    dir: &Path,
    split: Split,
) -> Result<Dataset, TaskError> {
    let labeled = split != Split::Test;
    let file = |f: &str| dir.join(f);
    let std_file = match split {
        Split::Train => "train.tsv",
        Split::Dev => "dev.tsv",
        Split::Test => "test.tsv",
    };
    let examples = match name {
        "cola" if labeled => load_cola_headerless(&file(std_file))?,
        "cola" => load_headed(
            &file(std_file),
            &Layout {
                id: Some("index"),
                texts: &["sentence"],
                label: "label",
                parse: LabelParse::Names(BINARY),
            },
            false,
        )?,
        "sst2" => load_headed(
            &file(std_file),
            &Layout {
                id: if labeled { None } else { Some("index") },
                texts: &["sentence"],
                label: "label",
                parse: LabelParse::Names(BINARY),
            },
            labeled,
        )?,
        "mrpc" => load_headed(
            &file(std_file),
            &Layout {
                id: if labeled { None } else { Some("index") },
                texts: &["#1 String", "#2 String"],
                label: "Quality",
                parse: LabelParse::Names(BINARY),
            },
            labeled,
        )?,
        "stsb" => load_headed(
            &file(std_file),
            &Layout {
                id: Some("index"),
                texts: &["sentence1", "sentence2"],
                label: "score",
                parse: LabelParse::Score { min: 0.0, max: 5.0 },
            },
            labeled,
        )?,
        "qqp" => load_headed(
            &file(std_file),
            &Layout {
                id: Some("id"),
                texts: &["question1", "question2"],
                label: "is_duplicate",
                parse: LabelParse::Names(BINARY),
            },
            labeled,
        )?,
        "mnli" | "mnli-mm" => {
            let f = match (name, split) {
                (_, Split::Train) => "train.tsv",
                ("mnli", Split::Dev) => "dev_matched.tsv",
                ("mnli", Split::Test) => "test_matched.tsv",
                (_, Split::Dev) => "dev_mismatched.tsv",
                (_, Split::Test) => "test_mismatched.tsv",
            };
            load_headed(
                &file(f),
                &Layout {
                    id: Some("index"),
                    texts: &["sentence1", "sentence2"],
                    label: "gold_label",
                    parse: LabelParse::Names(NLI3),
                },
                labeled,
            )?
        }
        "qnli" => load_headed(
            &file(std_file),
            &Layout {
                id: Some("index"),
                texts: &["question", "sentence"],
                label: "label",
                parse: LabelParse::Names(NLI2),
            },
            labeled,
        )?,
        "rte" => load_headed(
            &file(std_file),
            &Layout {
                id: Some("index"),
                texts: &["sentence1", "sentence2"],
                label: "label",
                parse: LabelParse::Names(NLI2),
            },
            labeled,
        )?,
        "wnli" => load_headed(
            &file(std_file),
            &Layout {
                id: Some("index"),
                texts: &["sentence1", "sentence2"],
                label: "label",
                parse: LabelParse::Names(BINARY),
            },
            labeled,
        )?,
        // The diagnostic set is test-only and scored with the MNLI classifier.
        "ax" => {
            if labeled {
                return Err(TaskError::NoSuchSplit {
                    task: name.into(),
                    split: split.to_string(),
                });
            }
            let p = if dir.join("diagnostic.tsv").is_file() {
                file("diagnostic.tsv")
            } else {
                file("AX.tsv")
            };
            load_headed(
                &p,
                &Layout {
                    id: Some("index"),
                    texts: &["sentence1", "sentence2"],
                    label: "label",
                    parse: LabelParse::Names(NLI3),
                },
                false,
            )?
        }
        other => return Err(TaskError::UnknownTask(other.into())),
    };
    Ok(Dataset {
        task: spec,
        split,
        examples,
        skipped: 0,
    })
}
