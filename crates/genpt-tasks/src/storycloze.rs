//! Story Cloze Test (Mostafazadeh et al. 2016), the CSV released as
//! `cloze_test_{val,test}__spring2016 - cloze_test_ALL_{val,test}.csv`.
//!
//! The paper fine-tunes on the 1,871-story validation file, holding out part of
//! it. We reproduce a 1,497 / 374 (80 / 20) split with a deterministic shuffle
//! (`shuffle::shuffle` seeded with [`STORYCLOZE_SPLIT_SEED`]), then keep each
//! side in file order so diffs of the split stay readable.

use crate::error::TaskError;
use crate::shuffle::shuffle;
use crate::task::{Example, Input, Label};
use std::path::Path;

/// Seed of the train/dev split of the validation stories. Changing it changes
/// which stories are held out: treat it as part of the dataset definition.
pub const STORYCLOZE_SPLIT_SEED: u64 = 2018;
/// Stories of the 1,871 that go to the fine-tuning train side.
pub const STORYCLOZE_TRAIN_STORIES: usize = 1497;

pub(crate) const VAL_FILE: &str = "cloze_test_val__spring2016 - cloze_test_ALL_val.csv";
pub(crate) const TEST_FILE: &str = "cloze_test_test__spring2016 - cloze_test_ALL_test.csv";

/// Read every story of a Story Cloze CSV (normal CSV quoting: sentences contain commas).
pub fn load_csv(path: &Path) -> Result<Vec<Example>, TaskError> {
    let text = crate::tsv::read_text(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| TaskError::BadFile {
            path: path.to_path_buf(),
            message: format!("bad CSV header: {e}"),
        })?
        .clone();
    let col = |name: &str| -> Result<usize, TaskError> {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| TaskError::BadRow {
                path: path.to_path_buf(),
                line: 1,
                message: format!("header has no `{name}` column"),
            })
    };
    let id = col("InputStoryid")?;
    let sents = [
        col("InputSentence1")?,
        col("InputSentence2")?,
        col("InputSentence3")?,
        col("InputSentence4")?,
    ];
    let ends = [
        col("RandomFifthSentenceQuiz1")?,
        col("RandomFifthSentenceQuiz2")?,
    ];
    let answer = col("AnswerRightEnding")?;
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
            TaskError::bad_row(path, line, format!("bad CSV row: {e}"))
        })?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        if rec.len() != headers.len() {
            return Err(TaskError::ColumnCount {
                path: path.to_path_buf(),
                line,
                expected: headers.len(),
                found: rec.len(),
            });
        }
        let get = |c: usize, name: &str| -> Result<String, TaskError> {
            match rec.get(c) {
                Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                _ => Err(TaskError::missing(path, line, name)),
            }
        };
        let context = sents
            .iter()
            .enumerate()
            .map(|(k, &c)| get(c, &format!("InputSentence{}", k + 1)))
            .collect::<Result<Vec<_>, _>>()?
            .join(" ");
        let choices = vec![
            get(ends[0], "RandomFifthSentenceQuiz1")?,
            get(ends[1], "RandomFifthSentenceQuiz2")?,
        ];
        let label = match get(answer, "AnswerRightEnding")?.as_str() {
            "1" => 0,
            "2" => 1,
            other => return Err(TaskError::unknown_label(path, line, other, &["1", "2"])),
        };
        out.push(Example {
            id: get(id, "InputStoryid")?,
            input: Input::Choices {
                context,
                question: String::new(),
                choices,
            },
            label: Some(Label::Class(label)),
        });
    }
    Ok(out)
}

/// Indices (file order) of the stories on the train side and on the dev side.
/// 80 / 20, rounded: for the 1,871 stories, 1,497 / 374.
pub fn split_indices(n: usize) -> (Vec<usize>, Vec<usize>) {
    // round(0.8 n): 1,871 → 1,497, the paper's count.
    let n_train = (n * 4 + 2) / 5;
    let mut idx: Vec<usize> = (0..n).collect();
    shuffle(&mut idx, STORYCLOZE_SPLIT_SEED);
    let mut train = idx[..n_train].to_vec();
    let mut dev = idx[n_train..].to_vec();
    train.sort_unstable();
    dev.sort_unstable();
    (train, dev)
}
