//! Vocabulary files: the encoder (piece → id) and the merges (pairs in rank order), in the
//! release's names (`encoder_bpe_40000.json`, `vocab_40000.bpe`) or Hugging Face's
//! (`vocab.json`, `merges.txt`). Errors name the file and line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::TokenizerError;

pub const ORIGINAL_ENCODER: &str = "encoder_bpe_40000.json";
pub const ORIGINAL_MERGES: &str = "vocab_40000.bpe";
pub const HF_ENCODER: &str = "vocab.json";
pub const HF_MERGES: &str = "merges.txt";

pub struct Vocab {
    pub encoder: HashMap<String, u32>,
    pub merges: Vec<(String, String)>,
}

/// The encoder and merges files in `dir`, whichever naming it uses: the release's
/// `encoder_bpe_N.json` + `vocab_N.bpe` (N the merge count; 40000 for GPT-1) or Hugging Face's
/// `vocab.json` + `merges.txt`. Two release-named pairs with different N are ambiguous.
pub fn find_files(dir: &Path) -> Result<(PathBuf, PathBuf), TokenizerError> {
    let mut release = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(n) = name.strip_prefix("encoder_bpe_").and_then(|r| r.strip_suffix(".json")) {
                let merges = dir.join(format!("vocab_{n}.bpe"));
                if merges.exists() {
                    release.push((dir.join(&name), merges));
                }
            }
        }
    }
    release.sort();
    match release.len() {
        1 => return Ok(release.pop().expect("one pair")),
        0 => {}
        _ => {
            return Err(TokenizerError::Format {
                path: dir.to_path_buf(),
                line: None,
                message: format!(
                    "ambiguous: {} vocabularies ({}); keep one encoder_bpe_N.json + vocab_N.bpe pair",
                    release.len(),
                    release.iter().map(|(e, _)| e.file_name().unwrap().to_string_lossy()).collect::<Vec<_>>().join(", ")
                ),
            })
        }
    }
    if dir.join(HF_ENCODER).exists() && dir.join(HF_MERGES).exists() {
        return Ok((dir.join(HF_ENCODER), dir.join(HF_MERGES)));
    }
    Err(TokenizerError::Format {
        path: dir.to_path_buf(),
        line: None,
        message: format!("no vocabulary: expected {ORIGINAL_ENCODER} + {ORIGINAL_MERGES} (or another merge count) or {HF_ENCODER} + {HF_MERGES}"),
    })
}

/// Characters that end a piece in a merges file: the release reads each line with Python's
/// `str.split()`, which splits on Unicode whitespace and on the separators U+001C–U+001F, and
/// Hugging Face splits on spaces. A piece holding one of these cannot be written as a merge.
pub fn is_merge_separator(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn read(path: &Path) -> Result<String, TokenizerError> {
    std::fs::read_to_string(path).map_err(|e| TokenizerError::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

pub fn parse_encoder(text: &str, path: &Path) -> Result<HashMap<String, u32>, TokenizerError> {
    let map: HashMap<String, u64> =
        serde_json::from_str(text).map_err(|e| TokenizerError::Format {
            path: path.to_path_buf(),
            line: Some(e.line()),
            message: format!("expected a JSON object of piece → id: {e}"),
        })?;
    let mut encoder = HashMap::with_capacity(map.len());
    for (piece, id) in map {
        let id = u32::try_from(id).map_err(|_| TokenizerError::Format {
            path: path.to_path_buf(),
            line: None,
            message: format!("id {id} of {piece:?} is too large"),
        })?;
        encoder.insert(piece, id);
    }
    // Both formats number the pieces 0..n, each id once; `Tokenizer::new` relies on it (its
    // decoder is a table of max id + 1 entries, and a shared id would decode to whichever
    // piece came last in hash order). Checked in id order, so the error is deterministic.
    let mut by_id: Vec<(u32, &str)> = encoder.iter().map(|(p, &id)| (id, p.as_str())).collect();
    by_id.sort_unstable();
    for (expected, pair) in by_id.iter().enumerate() {
        let (id, piece) = *pair;
        if id as usize != expected {
            let message = if expected > 0 && by_id[expected - 1].0 == id {
                format!(
                    "id {id} is given to both {:?} and {piece:?}",
                    by_id[expected - 1].1
                )
            } else {
                format!(
                    "id {expected} is missing (next is {id}, for {piece:?}): ids must be 0..{}, each once",
                    encoder.len()
                )
            };
            return Err(TokenizerError::Format {
                path: path.to_path_buf(),
                line: None,
                message,
            });
        }
    }
    Ok(encoder)
}

pub fn parse_merges(text: &str, path: &Path) -> Result<Vec<(String, String)>, TokenizerError> {
    let mut merges = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        // The release reads `split('\n')[1:-1]`: the first line is `#version: ...`.
        if (i == 0 && line.starts_with("#version")) || line.is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => {
                merges.push((a.to_string(), b.to_string()))
            }
            _ => {
                return Err(TokenizerError::Format {
                    path: path.to_path_buf(),
                    line: Some(i + 1),
                    message: format!("expected two space-separated pieces, found {line:?}"),
                })
            }
        }
    }
    Ok(merges)
}

pub fn load(dir: &Path) -> Result<Vocab, TokenizerError> {
    let (encoder_path, merges_path) = find_files(dir)?;
    Ok(Vocab {
        encoder: parse_encoder(&read(&encoder_path)?, &encoder_path)?,
        merges: parse_merges(&read(&merges_path)?, &merges_path)?,
    })
}

/// Writes both layouts into `dir`: `encoder_bpe_N.json` + `vocab_N.bpe` (N = the number of
/// merges) and `vocab.json` + `merges.txt`. A merge that the format cannot hold (an empty piece,
/// or one with whitespace, see [`is_merge_separator`]) is an error, not a file that fails to
/// load; the encoder, being JSON, holds any piece.
pub fn save(
    dir: &Path,
    encoder: &HashMap<String, u32>,
    merges: &[(String, String)],
) -> Result<(), TokenizerError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| TokenizerError::Io { path, source: e }
    };
    for (i, (a, b)) in merges.iter().enumerate() {
        if [a, b].iter().any(|p| p.is_empty() || p.chars().any(is_merge_separator)) {
            return Err(TokenizerError::Format {
                path: dir.join(HF_MERGES),
                line: Some(i + 2),
                message: format!("merge {a:?} + {b:?} cannot be written: pieces may not be empty or hold whitespace"),
            });
        }
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut pairs: Vec<(&String, &u32)> = encoder.iter().collect();
    pairs.sort_by_key(|(_, &id)| id);
    let ordered: serde_json::Map<String, serde_json::Value> = pairs
        .into_iter()
        .map(|(p, &id)| (p.clone(), serde_json::Value::from(id)))
        .collect();
    let encoder_json = serde_json::to_string(&ordered).expect("json");
    let mut merges_text = String::from("#version: 0.2\n");
    for (a, b) in merges {
        merges_text.push_str(&format!("{a} {b}\n"));
    }
    let n = merges.len();
    let release = (format!("encoder_bpe_{n}.json"), format!("vocab_{n}.bpe"));
    for (e, m) in [release, (HF_ENCODER.to_string(), HF_MERGES.to_string())] {
        std::fs::write(dir.join(&e), &encoder_json).map_err(io(&dir.join(&e)))?;
        std::fs::write(dir.join(&m), &merges_text).map_err(io(&dir.join(&m)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_name_the_line() {
        let err = parse_merges("#version: 0.2\na b\nlonely\n", Path::new("m.txt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.txt:3"), "{err}");
        let err = parse_encoder("{\"a\": 1,\n \"b\": }", Path::new("v.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("v.json:2"), "{err}");
    }

    // Found by the `load_vocab` fuzz target: two pieces sharing an id loaded, and the decoder
    // kept whichever came last in hash order.
    #[test]
    fn ids_must_be_zero_to_n_each_once() {
        let ok = parse_encoder(r#"{"<unk>": 0, "a": 1, "a</w>": 2}"#, Path::new("v.json")).unwrap();
        assert_eq!(ok.len(), 3);
        let err = parse_encoder(r#"{"<unk>": 0, "a": 1, "b": 1}"#, Path::new("v.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("id 1 is given to both \"a\" and \"b\""),
            "{err}"
        );
        let err = parse_encoder(r#"{"<unk>": 0, "a": 2}"#, Path::new("v.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("id 1 is missing"), "{err}");
        // A huge id (seen in review, not by the fuzzer) made `Tokenizer::new` allocate 4e9 entries.
        let err = parse_encoder(r#"{"a": 4000000000}"#, Path::new("v.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("id 0 is missing"), "{err}");
        assert!(parse_encoder("{}", Path::new("v.json")).unwrap().is_empty());
    }
}
