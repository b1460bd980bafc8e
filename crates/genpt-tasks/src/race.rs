//! RACE reading comprehension: `RACE/{train,dev,test}/{middle,high}/*.txt`,
//! each file one JSON object `{article, questions[], options[][4], answers[], id}`.
//! One example per question; the article is the context.

use crate::error::TaskError;
use crate::task::{Example, Input, Label};
use crate::tsv::read_text;
use std::path::Path;

#[derive(serde::Deserialize)]
struct RaceFile {
    article: String,
    questions: Vec<String>,
    options: Vec<Vec<String>>,
    answers: Vec<String>,
    id: String,
}

/// Load every `*.txt` under `dir` (sorted by file name so the order is the
/// same on every machine). A malformed file is an error naming the file and
/// the question number (as `file:question`).
pub(crate) fn load_dir(dir: &Path) -> Result<Vec<Example>, TaskError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| TaskError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        out.extend(load_file(&f)?);
    }
    Ok(out)
}

pub(crate) fn load_file(path: &Path) -> Result<Vec<Example>, TaskError> {
    let text = read_text(path)?;
    let r: RaceFile = serde_json::from_str(&text).map_err(|e| TaskError::BadRow {
        path: path.to_path_buf(),
        line: e.line(),
        message: format!("invalid RACE JSON: {e}"),
    })?;
    let n = r.questions.len();
    if r.options.len() != n || r.answers.len() != n {
        return Err(TaskError::BadFile {
            path: path.to_path_buf(),
            message: format!(
                "{n} questions but {} option lists and {} answers",
                r.options.len(),
                r.answers.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(n);
    for (q, ((question, options), answer)) in r
        .questions
        .iter()
        .zip(&r.options)
        .zip(&r.answers)
        .enumerate()
    {
        if options.len() != 4 {
            return Err(TaskError::BadFile {
                path: path.to_path_buf(),
                message: format!("question {q}: expected 4 options, found {}", options.len()),
            });
        }
        let label = match answer.trim() {
            "A" => 0,
            "B" => 1,
            "C" => 2,
            "D" => 3,
            other => {
                return Err(TaskError::BadFile {
                    path: path.to_path_buf(),
                    message: format!(
                        "question {q}: unknown answer `{other}` (expected A, B, C or D)"
                    ),
                })
            }
        };
        out.push(Example {
            id: format!("{}-{q}", r.id),
            input: Input::Choices {
                context: r.article.clone(),
                question: question.clone(),
                choices: options.clone(),
            },
            label: Some(Label::Class(label)),
        });
    }
    Ok(out)
}
