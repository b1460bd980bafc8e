//! GLUE's TSV files. Columns are found by header name where the file has a header (CoLA's
//! train and dev have none). Quotes are ordinary characters: GLUE's files are not CSV-quoted,
//! and treating `"` specially corrupts rows (a classic loader bug).

use std::path::Path;

use super::{Example, Input, Label, Split, TaskError, TaskSpec};

fn file_name(task: &str, split: Split) -> &'static str {
    match (task, split) {
        ("mnli", Split::Dev) => "dev_matched.tsv",
        ("mnli-mm", Split::Dev) => "dev_mismatched.tsv",
        ("mnli", Split::Test) => "test_matched.tsv",
        ("mnli-mm", Split::Test) => "test_mismatched.tsv",
        (_, Split::Train) => "train.tsv",
        (_, Split::Dev) => "dev.tsv",
        (_, Split::Test) => "test.tsv",
    }
}

/// Column names of each task's text fields and label, in header spelling.
fn columns(task: &str) -> (&'static [&'static str], &'static str) {
    match task {
        "cola" | "sst2" => (&["sentence"], "label"),
        "mrpc" => (&["#1 String", "#2 String"], "Quality"),
        "stsb" => (&["sentence1", "sentence2"], "score"),
        "qqp" => (&["question1", "question2"], "is_duplicate"),
        "mnli" | "mnli-mm" => (&["sentence1", "sentence2"], "gold_label"),
        "qnli" => (&["question", "sentence"], "label"),
        _ => (&["sentence1", "sentence2"], "label"), // rte, wnli
    }
}

pub fn load(spec: &TaskSpec, dir: &Path, split: Split) -> Result<Vec<Example>, TaskError> {
    let path = dir.join(file_name(spec.name, split));
    let text = std::fs::read_to_string(&path).map_err(|e| TaskError::Io { path: path.clone(), source: e })?;
    let row_error = |line: usize, message: String| TaskError::Row { path: path.clone(), line, message };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}')));

    // CoLA train/dev: source, label, original mark, sentence — no header.
    let headerless = spec.name == "cola" && split != Split::Test;
    let (text_cols, label_col, id_col, width) = if headerless {
        (vec![3], Some(1), None, 4)
    } else {
        let (_, header) = lines.next().ok_or_else(|| row_error(1, "empty file".into()))?;
        let names: Vec<&str> = header.split('\t').collect();
        let find = |name: &str| names.iter().position(|n| *n == name);
        let (wanted, label) = columns(spec.name);
        let text_cols = wanted
            .iter()
            .map(|w| find(w).ok_or_else(|| row_error(1, format!("no column {w:?} in the header {names:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        // Test files have no label column; MNLI's label is the last column.
        let label_col = if split == Split::Test { None } else if spec.name.starts_with("mnli") { Some(names.len() - 1) } else { find(label) };
        if split != Split::Test && label_col.is_none() {
            return Err(row_error(1, format!("no label column {label:?}")));
        }
        (text_cols, label_col, find("index").or(find("id")), names.len())
    };

    let mut examples = Vec::new();
    for (line, row) in lines {
        if row.is_empty() {
            continue;
        }
        let fields: Vec<&str> = row.split('\t').collect();
        if fields.len() < width {
            return Err(row_error(line, format!("{} columns, expected {width}", fields.len())));
        }
        let texts: Vec<String> = text_cols.iter().map(|&c| fields[c].trim().to_string()).collect();
        let label = match label_col {
            None => None,
            Some(c) => Some(parse_label(spec, fields[c].trim()).map_err(|m| row_error(line, m))?),
        };
        let id = id_col.map(|c| fields[c].to_string()).unwrap_or_else(|| (examples.len()).to_string());
        let input = match texts.len() {
            1 => Input::Single(texts.into_iter().next().unwrap()),
            _ => {
                let mut t = texts.into_iter();
                Input::Pair(t.next().unwrap(), t.next().unwrap())
            }
        };
        examples.push(Example { id, input, label });
    }
    Ok(examples)
}

fn parse_label(spec: &TaskSpec, raw: &str) -> Result<Label, String> {
    if let super::Kind::Similarity { regression: true } = spec.kind {
        return raw
            .parse::<f32>()
            .ok()
            .filter(|s| (0.0..=5.0).contains(s))
            .map(Label::Score)
            .ok_or_else(|| format!("score {raw:?} is not a number in [0, 5]"));
    }
    spec.labels
        .iter()
        .position(|l| *l == raw)
        .map(Label::Class)
        .ok_or_else(|| format!("unknown label {raw:?} (expected one of {:?})", spec.labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("genpt-glue-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (f, text) in files {
            std::fs::write(dir.join(f), text).unwrap();
        }
        dir
    }

    #[test]
    fn quotes_are_plain_characters_and_errors_name_the_line() {
        let dir = scratch("rte", &[("dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\t\"Hi, she said\tA \"quote\tentailment\n1\tx\ty\tmaybe\n")]);
        let spec = super::super::spec("rte").unwrap();
        let err = load(spec, &dir, Split::Dev).unwrap_err().to_string();
        assert!(err.ends_with("dev.tsv:3: unknown label \"maybe\" (expected one of [\"entailment\", \"not_entailment\"])"), "{err}");
        std::fs::write(dir.join("dev.tsv"), "index\tsentence1\tsentence2\tlabel\n0\t\"Hi, she said\tA \"quote\tentailment\n").unwrap();
        let examples = load(spec, &dir, Split::Dev).unwrap();
        assert_eq!(examples[0].input, Input::Pair("\"Hi, she said".into(), "A \"quote".into()));
        assert_eq!(examples[0].label, Some(Label::Class(0)));
    }

    #[test]
    fn mnli_fixture_in_the_published_layout() {
        // Written for this test in MNLI's column layout (the real data is not available here).
        let header = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label";
        let dir = scratch("mnli", &[("dev_matched.tsv", &format!("{header}\n0\t1\t1n\tfiction\t(a)\t(b)\t(A)\t(B)\tThe cat slept.\tAn animal rested.\tentailment\tentailment\n"))]);
        let examples = load(super::super::spec("mnli").unwrap(), &dir, Split::Dev).unwrap();
        assert_eq!(examples[0].label, Some(Label::Class(1)));
        let short = scratch("mnli-short", &[("dev_matched.tsv", &format!("{header}\n0\t1\tfiction\n"))]);
        let err = load(super::super::spec("mnli").unwrap(), &short, Split::Dev).unwrap_err().to_string();
        assert!(err.contains("dev_matched.tsv:2: 3 columns, expected 12"), "{err}");
    }

    #[test]
    fn shared_glue_row_counts() {
        let Some(glue) = crate::shared_dir().map(|d| d.join("data/glue")) else {
            eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
            return;
        };
        for (task, dir, counts) in [
            ("cola", "CoLA", [8551, 1043, 1063]),
            ("sst2", "SST-2", [67349, 872, 1821]),
            ("mrpc", "MRPC", [3667, 408, 1725]),
            ("stsb", "STS-B", [5749, 1500, 1379]),
            ("rte", "RTE", [2490, 277, 3000]),
            ("wnli", "WNLI", [635, 71, 146]),
        ] {
            for (split, want) in [Split::Train, Split::Dev, Split::Test].into_iter().zip(counts) {
                let examples = load(super::super::spec(task).unwrap(), &glue.join(dir), split).unwrap();
                assert_eq!(examples.len(), want, "{task} {split:?}");
                assert_eq!(examples.iter().all(|e| e.label.is_some()), split != Split::Test);
            }
        }
        let qnli = load(super::super::spec("qnli").unwrap(), &glue.join("QNLI"), Split::Dev).unwrap();
        assert_eq!(qnli.len(), 5463);
    }
}
