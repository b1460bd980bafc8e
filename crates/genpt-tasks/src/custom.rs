//! The user's own labeled files: `genpt finetune --task custom --kind K --train F --dev F`.
//!
//! A file is JSONL (`.jsonl`, `.json`), CSV (`.csv`, quotes honoured) or TSV (`.tsv`, `.txt`;
//! split on tabs only, quotes literal, as GLUE's files need). Each row gives the fields of its
//! kind:
//!
//! | kind | input fields | target |
//! |---|---|---|
//! | classification | `text` | `label` |
//! | entailment | `premise`, `hypothesis` | `label` |
//! | similarity | `a`, `b` (both orderings are encoded) | `label` (two classes) |
//! | regression | `text`, or `a` and `b` | `score` (or `label`), a number |
//! | choice | `context`, `question` (optional), `choices` | `label`: the right choice's 0-based index, or its text |
//!
//! plus an optional `id` (default: the line number). Column names in the files may differ:
//! `--columns text=review,label=sentiment` maps a field to a column (or JSON key). In a CSV or TSV,
//! `choices` names several columns (`choices=ending1,choices=ending2`); in JSONL it is one array.
//! Labels may be strings or numbers; the label set found in training is the model's, saved
//! with it (`TaskInfo`), and a dev or test label outside it is an error at its line.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::error::TaskError;
use crate::info::{CustomKind, InputForm, TaskInfo};
use crate::task::{Example, Input, Label};

/// How a file's columns are named: field → column(s). Fields not listed keep their own name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Columns(pub BTreeMap<String, Vec<String>>);

impl Columns {
    /// Parses `field=column,field=column,...` (a field may repeat: `choices=e1,choices=e2`).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, column) = part
                .split_once('=')
                .ok_or_else(|| format!("--columns: expected field=column, found {part:?}"))?;
            let field = field.trim();
            if !ALL_FIELDS.contains(&field) {
                return Err(format!(
                    "--columns: unknown field {field:?} (fields: {})",
                    ALL_FIELDS.join(", ")
                ));
            }
            map.entry(field.to_string())
                .or_default()
                .push(column.trim().to_string());
        }
        Ok(Columns(map))
    }

    fn names<'a>(&'a self, field: &'a str) -> Vec<&'a str> {
        match self.0.get(field) {
            Some(columns) => columns.iter().map(String::as_str).collect(),
            None => vec![field],
        }
    }
}

const ALL_FIELDS: [&str; 11] = [
    "id",
    "text",
    "premise",
    "hypothesis",
    "a",
    "b",
    "context",
    "question",
    "choices",
    "label",
    "score",
];

/// One cell: JSON keeps numbers and arrays; CSV and TSV cells are strings.
#[derive(Debug, Clone)]
enum Cell {
    Text(String),
    Number(serde_json::Number),
    List(Vec<Cell>),
    Null,
}

impl Cell {
    fn from_json(value: serde_json::Value) -> Result<Cell, String> {
        Ok(match value {
            serde_json::Value::String(s) => Cell::Text(s),
            serde_json::Value::Number(n) => Cell::Number(n),
            serde_json::Value::Bool(b) => Cell::Text(b.to_string()),
            serde_json::Value::Null => Cell::Null,
            serde_json::Value::Array(items) => Cell::List(
                items
                    .into_iter()
                    .map(Cell::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Object(_) => {
                return Err("an object where a value was expected".into())
            }
        })
    }

    /// A label or id as text: numbers as JSON writes them (`1`, `0.5`).
    fn as_text(&self) -> Option<String> {
        match self {
            Cell::Text(s) => Some(s.clone()),
            Cell::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// One row of a file, by column name, with its 1-based line.
struct Row {
    line: usize,
    cells: HashMap<String, Cell>,
}

enum Format {
    Jsonl,
    Csv,
    Tsv,
}

fn format_of(path: &Path) -> Result<Format, TaskError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "jsonl" | "json" | "ndjson" => Ok(Format::Jsonl),
        "csv" => Ok(Format::Csv),
        "tsv" | "txt" => Ok(Format::Tsv),
        _ => Err(TaskError::BadFile {
            path: path.to_path_buf(),
            message: "unknown file type: name it .jsonl, .csv or .tsv".into(),
        }),
    }
}

fn read_rows(path: &Path) -> Result<Vec<Row>, TaskError> {
    let text = crate::tsv::read_text(path)?;
    let rows = match format_of(path)? {
        Format::Jsonl => read_jsonl(path, &text)?,
        Format::Csv => read_delimited(path, &text, b',', true)?,
        Format::Tsv => read_delimited(path, &text, b'\t', false)?,
    };
    if rows.is_empty() {
        return Err(TaskError::BadFile {
            path: path.to_path_buf(),
            message: "no rows: the file is empty".into(),
        });
    }
    Ok(rows)
}

fn read_jsonl(path: &Path, text: &str) -> Result<Vec<Row>, TaskError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| TaskError::bad_row(path, i + 1, format!("not a JSON object: {e}")))?;
        let serde_json::Value::Object(object) = value else {
            return Err(TaskError::bad_row(
                path,
                i + 1,
                "expected a JSON object per line",
            ));
        };
        let cells = object
            .into_iter()
            .map(|(k, v)| Cell::from_json(v).map(|c| (k, c)))
            .collect::<Result<_, _>>()
            .map_err(|e| TaskError::bad_row(path, i + 1, e))?;
        rows.push(Row { line: i + 1, cells });
    }
    Ok(rows)
}

fn read_delimited(
    path: &Path,
    text: &str,
    delimiter: u8,
    quoting: bool,
) -> Result<Vec<Row>, TaskError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quoting(quoting)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| TaskError::bad_row(path, 1, format!("unreadable header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(TaskError::BadFile {
            path: path.to_path_buf(),
            message: "no header line: the first line must name the columns".into(),
        });
    }
    let mut seen = HashSet::new();
    if let Some(dup) = header.iter().find(|h| !seen.insert(h.as_str())) {
        return Err(TaskError::bad_row(
            path,
            1,
            format!("column {dup:?} appears twice in the header"),
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            TaskError::bad_row(path, line, format!("malformed row: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.len() == 1 && record[0].trim().is_empty() {
            continue; // a blank line
        }
        if record.len() != header.len() {
            return Err(TaskError::bad_row(
                path,
                line,
                format!(
                    "malformed row: {} columns where the header has {}",
                    record.len(),
                    header.len()
                ),
            ));
        }
        let cells = header
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.clone(), Cell::Text(v.to_string())))
            .collect();
        rows.push(Row { line, cells });
    }
    Ok(rows)
}

/// What a split needs of its rows' targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// Every row has one (training, dev).
    Required,
    /// Rows may lack one (test files, prediction inputs); present ones are still checked.
    Optional,
}

/// A file read for a custom task, before labels become class indices: the training labels
/// decide the class set.
pub struct RawExamples {
    pub path: std::path::PathBuf,
    examples: Vec<(usize, String, Input, Option<RawTarget>)>,
}

#[derive(Debug, Clone)]
enum RawTarget {
    Class(String),
    Score(f32),
}

/// Reads `path` as rows of `kind`. The input form (for regression: one text or a pair) is
/// taken from `form` where known (dev, test and prediction files must match training), or
/// found from the first row.
pub fn read_examples(
    kind: CustomKind,
    form: Option<InputForm>,
    path: &Path,
    columns: &Columns,
    labels: Labels,
) -> Result<(InputForm, RawExamples), TaskError> {
    let rows = read_rows(path)?;
    let form = match form {
        Some(form) => form,
        None => kind.input_form(|field| {
            columns
                .names(field)
                .iter()
                .any(|c| rows[0].cells.contains_key(*c))
        }),
    };
    let mut ids = HashMap::new();
    let mut n_choices: Option<(usize, usize)> = None;
    let mut examples = Vec::with_capacity(rows.len());
    for row in &rows {
        let text = |field: &str| -> Result<String, TaskError> {
            let column = columns.names(field)[0];
            match row.cells.get(column) {
                Some(cell) => cell.as_text().ok_or_else(|| {
                    TaskError::bad_row(path, row.line, format!("field `{column}` must be a string"))
                }),
                None => Err(TaskError::missing(path, row.line, column)),
            }
        };
        let id = match row.cells.get(columns.names("id")[0]) {
            Some(cell) => cell.as_text().ok_or_else(|| {
                TaskError::bad_row(path, row.line, "`id` must be a string or number")
            })?,
            None => row.line.to_string(),
        };
        if let Some(first) = ids.insert(id.clone(), row.line) {
            return Err(TaskError::bad_row(
                path,
                row.line,
                format!("duplicate id {id:?} (first at line {first})"),
            ));
        }
        let input = match form {
            InputForm::Text => Input::Single(text("text")?),
            InputForm::Pair => {
                let (a, b) = kind.pair_fields();
                Input::Pair(text(a)?, text(b)?)
            }
            InputForm::Choices => {
                let choices = choice_cells(row, columns, path)?;
                match n_choices {
                    None => n_choices = Some((choices.len(), row.line)),
                    Some((n, line)) if n != choices.len() => {
                        return Err(TaskError::bad_row(
                            path,
                            row.line,
                            format!(
                            "{} choices, but line {line} has {n}: every row needs the same number",
                            choices.len()
                        ),
                        ))
                    }
                    Some(_) => {}
                }
                let question = match row.cells.get(columns.names("question")[0]) {
                    Some(_) => text("question")?,
                    None => String::new(),
                };
                Input::Choices {
                    context: text("context")?,
                    question,
                    choices,
                }
            }
        };
        let target = target_cell(kind, row, columns);
        let target = match (target, labels) {
            (None, Labels::Required) => {
                let field = if kind == CustomKind::Regression {
                    "score"
                } else {
                    "label"
                };
                return Err(TaskError::missing(path, row.line, columns.names(field)[0]));
            }
            (None, Labels::Optional) | (Some(Cell::Null), Labels::Optional) => None,
            (Some(cell), _) => Some(parse_target(kind, &cell, path, row.line)?),
        };
        examples.push((row.line, id, input, target));
    }
    Ok((
        form,
        RawExamples {
            path: path.to_path_buf(),
            examples,
        },
    ))
}

fn choice_cells(row: &Row, columns: &Columns, path: &Path) -> Result<Vec<String>, TaskError> {
    let names = columns.names("choices");
    let bad = |message: &str| TaskError::bad_row(path, row.line, message.to_string());
    if names.len() == 1 {
        match row.cells.get(names[0]) {
            Some(Cell::List(items)) => {
                let choices: Vec<String> = items
                    .iter()
                    .map(|c| c.as_text().ok_or_else(|| bad("`choices` must hold strings")))
                    .collect::<Result<_, _>>()?;
                if choices.len() < 2 {
                    return Err(bad("`choices` needs at least two entries"));
                }
                return Ok(choices);
            }
            Some(_) => {
                return Err(bad(
                    "`choices` must be a list (in CSV/TSV, name one column per choice: --columns choices=c1,choices=c2)",
                ))
            }
            None => return Err(TaskError::missing(path, row.line, names[0])),
        }
    }
    names
        .iter()
        .map(|name| match row.cells.get(*name) {
            Some(cell) => cell.as_text().ok_or_else(|| bad("choices must be strings")),
            None => Err(TaskError::missing(path, row.line, name)),
        })
        .collect()
}

fn target_cell(kind: CustomKind, row: &Row, columns: &Columns) -> Option<Cell> {
    let fields: &[&str] = if kind == CustomKind::Regression {
        &["score", "label"]
    } else {
        &["label"]
    };
    fields
        .iter()
        .find_map(|f| row.cells.get(columns.names(f)[0]).cloned())
}

fn parse_target(
    kind: CustomKind,
    cell: &Cell,
    path: &Path,
    line: usize,
) -> Result<RawTarget, TaskError> {
    if kind == CustomKind::Regression {
        let value = match cell {
            Cell::Number(n) => n.as_f64(),
            Cell::Text(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        return match value {
            Some(v) if v.is_finite() => Ok(RawTarget::Score(v as f32)),
            _ => Err(TaskError::bad_row(
                path,
                line,
                format!("the score must be a number, found {}", describe(cell)),
            )),
        };
    }
    match cell.as_text() {
        Some(label) if !label.trim().is_empty() => Ok(RawTarget::Class(label.trim().to_string())),
        _ => Err(TaskError::bad_row(
            path,
            line,
            format!(
                "the label must be a string or number, found {}",
                describe(cell)
            ),
        )),
    }
}

fn describe(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => format!("{s:?}"),
        Cell::Number(n) => n.to_string(),
        Cell::List(_) => "a list".into(),
        Cell::Null => "null".into(),
    }
}

impl RawExamples {
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// The distinct class labels, numbers in numeric order when all are numbers, else strings
    /// in byte order: the class index a model's output stands for.
    pub fn label_set(&self) -> Vec<String> {
        let mut labels: Vec<String> = self
            .examples
            .iter()
            .filter_map(|e| match &e.3 {
                Some(RawTarget::Class(l)) => Some(l.clone()),
                _ => None,
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let numeric: Option<Vec<f64>> = labels.iter().map(|l| l.parse::<f64>().ok()).collect();
        match numeric {
            Some(_) => labels.sort_by(|a, b| {
                a.parse::<f64>()
                    .unwrap()
                    .total_cmp(&b.parse::<f64>().unwrap())
            }),
            None => labels.sort(),
        }
        labels
    }

    /// The number of choices per row (choice tasks), from the first row.
    pub fn n_choices(&self) -> Option<usize> {
        self.examples.first().and_then(|e| match &e.2 {
            Input::Choices { choices, .. } => Some(choices.len()),
            _ => None,
        })
    }

    /// Examples with labels as class indices of `info` (a label outside its set is an error at
    /// its line; a choice label is an index or the text of one of the row's choices).
    pub fn into_examples(self, info: &TaskInfo) -> Result<Vec<Example>, TaskError> {
        let path = self.path;
        let kind = info.kind;
        if let (Some(want), Some(n)) = (
            info.n_choices,
            self.examples.first().and_then(|e| match &e.2 {
                Input::Choices { choices, .. } => Some(choices.len()),
                _ => None,
            }),
        ) {
            if want != n {
                return Err(TaskError::bad_row(
                    &path,
                    self.examples[0].0,
                    format!("{n} choices, but the model was trained with {want}"),
                ));
            }
        }
        self.examples
            .into_iter()
            .map(|(line, id, input, target)| {
                let label = match target {
                    None => None,
                    Some(RawTarget::Score(s)) => Some(Label::Score(s)),
                    Some(RawTarget::Class(name)) if kind == CustomKind::Choice => {
                        let Input::Choices { choices, .. } = &input else { unreachable!("choice rows hold choices") };
                        let index = match name.parse::<usize>() {
                            Ok(i) if i < choices.len() => i,
                            _ => choices.iter().position(|c| *c == name).ok_or_else(|| {
                                TaskError::bad_row(
                                    &path,
                                    line,
                                    format!(
                                        "label {name:?} is neither a choice index (0..{}) nor the text of a choice",
                                        choices.len()
                                    ),
                                )
                            })?,
                        };
                        Some(Label::Class(index))
                    }
                    Some(RawTarget::Class(name)) => {
                        let index = info.labels.iter().position(|l| *l == name).ok_or_else(|| {
                            let known: Vec<&str> = info.labels.iter().map(String::as_str).collect();
                            TaskError::UnknownLabel {
                                path: path.clone(),
                                line,
                                label: format!("{name} (not seen in training)"),
                                expected: known.join(", "),
                            }
                        })?;
                        Some(Label::Class(index))
                    }
                };
                Ok(Example { id, input, label })
            })
            .collect()
    }
}

/// Reads a training file and describes the task it defines: kind, input form and label set.
pub fn read_training(
    kind: CustomKind,
    path: &Path,
    columns: &Columns,
) -> Result<(TaskInfo, Vec<Example>), TaskError> {
    let (form, raw) = read_examples(kind, None, path, columns, Labels::Required)?;
    let labels = match kind {
        CustomKind::Regression | CustomKind::Choice => Vec::new(),
        _ => raw.label_set(),
    };
    if matches!(kind, CustomKind::Classification | CustomKind::Entailment) && labels.len() < 2 {
        return Err(TaskError::BadFile {
            path: path.to_path_buf(),
            message: format!(
                "only one label ({}) in the training file: a classifier needs two or more",
                labels.join("")
            ),
        });
    }
    if kind == CustomKind::Similarity && labels.len() != 2 {
        return Err(TaskError::BadFile {
            path: path.to_path_buf(),
            message: format!(
                "similarity takes two labels (like MRPC), found {}: {}; use --kind regression for scores",
                labels.len(),
                labels.join(", ")
            ),
        });
    }
    let info = TaskInfo::custom(kind, form, labels, raw.n_choices(), columns.0.clone());
    let examples = raw.into_examples(&info)?;
    Ok((info, examples))
}

/// Reads a dev, test or prediction file for the task `info` describes.
pub fn read_for(
    info: &TaskInfo,
    path: &Path,
    columns: &Columns,
    labels: Labels,
) -> Result<Vec<Example>, TaskError> {
    let (_, raw) = read_examples(info.kind, Some(info.input), path, columns, labels)?;
    raw.into_examples(info)
}
