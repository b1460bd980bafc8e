//! Story Cloze (Mostafazadeh et al., 2016): four sentences and two candidate endings. The paper
//! fine-tunes on the 2016 validation set split 1,497 / 374; here that split is a Fisher–Yates
//! shuffle of the 1,871 stories driven by SplitMix64 with seed [`SPLIT_SEED`], first 1,497 for
//! training, the rest for validation.

use std::path::{Path, PathBuf};

use super::{Example, Input, Label, Split, TaskError};
use crate::data::sampler::Draws;

pub const VALIDATION_FILE: &str = "cloze_test_val__spring2016 - cloze_test_ALL_val.csv";
pub const SPLIT_SEED: u64 = 2018;
pub const TRAIN_STORIES: usize = 1497;

/// Splits one CSV record (RFC 4180 quoting: `"..."` fields, `""` for a quote).
pub fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            (_, c) => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

fn find_file(dir: &Path) -> PathBuf {
    if dir.is_file() {
        return dir.to_path_buf();
    }
    dir.join(VALIDATION_FILE)
}

/// All labeled stories of the file, in file order.
pub fn read_all(path: &Path) -> Result<Vec<Example>, TaskError> {
    let text = std::fs::read_to_string(path).map_err(|e| TaskError::Io { path: path.to_path_buf(), source: e })?;
    let mut lines = text.lines().enumerate();
    let bad = |line: usize, message: String| TaskError::Row { path: path.to_path_buf(), line, message };
    let (_, header) = lines.next().ok_or_else(|| bad(1, "empty file".into()))?;
    let names = csv_fields(header.trim_start_matches('\u{feff}')).map_err(|m| bad(1, m))?;
    let col = |name: &str| names.iter().position(|n| n == name).ok_or_else(|| bad(1, format!("no column {name}")));
    let sentence_cols = (1..=4).map(|i| col(&format!("InputSentence{i}"))).collect::<Result<Vec<_>, _>>()?;
    let ending_cols = [col("RandomFifthSentenceQuiz1")?, col("RandomFifthSentenceQuiz2")?];
    let answer_col = col("AnswerRightEnding")?;
    let id_col = col("InputStoryid")?;
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f = csv_fields(line).map_err(|m| bad(i + 1, m))?;
        if f.len() != names.len() {
            return Err(bad(i + 1, format!("{} fields, expected {}", f.len(), names.len())));
        }
        let answer = match f[answer_col].trim() {
            "1" => 0,
            "2" => 1,
            other => return Err(bad(i + 1, format!("AnswerRightEnding {other:?} is not 1 or 2"))),
        };
        let context = sentence_cols.iter().map(|&c| f[c].trim()).collect::<Vec<_>>().join(" ");
        out.push(Example {
            id: f[id_col].clone(),
            input: Input::Choices { context, answers: ending_cols.iter().map(|&c| f[c].trim().to_string()).collect() },
            label: Some(Label::Class(answer)),
        });
    }
    Ok(out)
}

pub fn load(dir: &Path, split: Split) -> Result<Vec<Example>, TaskError> {
    let mut stories = read_all(&find_file(dir))?;
    let mut draws = Draws::new(SPLIT_SEED, 0);
    for i in (1..stories.len()).rev() {
        stories.swap(i, draws.below(i as u64 + 1) as usize);
    }
    let cut = TRAIN_STORIES.min(stories.len());
    match split {
        Split::Train => Ok(stories[..cut].to_vec()),
        Split::Dev => Ok(stories[cut..].to_vec()),
        Split::Test => Err(TaskError::Other(
            "Story Cloze: the paper evaluates on the 2016 test set, which is not part of this data; use --split dev".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_fields(r#"a,"b, c","say ""hi""",d"#).unwrap(), ["a", "b, c", "say \"hi\"", "d"]);
        assert!(csv_fields(r#"a,"open"#).is_err());
    }

    #[test]
    fn the_papers_split_of_the_shared_file() {
        let Some(dir) = crate::shared_dir().map(|d| d.join("data/storycloze")) else {
            eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
            return;
        };
        let all = read_all(&dir.join(VALIDATION_FILE)).unwrap();
        assert_eq!(all.len(), 1871);
        let train = load(&dir, Split::Train).unwrap();
        let dev = load(&dir, Split::Dev).unwrap();
        assert_eq!((train.len(), dev.len()), (1497, 374));
        let mut ids: Vec<&str> = train.iter().chain(&dev).map(|e| e.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 1871, "a partition of the stories");
    }
}
