//! Vocabulary files: the encoder (piece → id) and the merges (pairs in rank order), in
//! GPT-1's release names (`encoder_bpe_N.json`, `vocab_N.bpe`, N the merge count: 40000 for
//! the original), GPT-2's
//! (`encoder.json`, `vocab.bpe`) or Hugging Face's (`vocab.json`, `merges.txt`, used by both).
//! Errors name the file and line.
//!
//! Which pipeline a vocabulary is for is read from its pieces, not its file names (Hugging
//! Face's layout is the same for both):
//! - GPT-1 if some piece ends in `</w>` and none contains `Ġ`;
//! - GPT-2 byte-level if some piece contains `Ġ` (the space byte's character; GPT-1's
//!   lowercased pieces never do) and none ends in `</w>`; every character of every piece
//!   and merge must then be one of the 256 of the byte map, or the vocabulary could not be
//!   decoded to bytes;
//! - both signals, or neither (e.g. a vocabulary of a few letters), is an error: guessing
//!   would tokenize silently wrong.
//!
//! A directory may hold several complete pairs (`vocab::save` writes two layouts); they must
//! then agree, kind and content, or loading is an error. A lone file of a pair is ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::{TokenizerError, TokenizerKind};

pub const ORIGINAL_ENCODER: &str = "encoder_bpe_40000.json";
pub const ORIGINAL_MERGES: &str = "vocab_40000.bpe";
pub const HF_ENCODER: &str = "vocab.json";
pub const HF_MERGES: &str = "merges.txt";
pub const GPT2_ENCODER: &str = "encoder.json";
pub const GPT2_MERGES: &str = "vocab.bpe";

/// The fixed-name layouts (GPT-1's release names carry a merge count; `release_pairs`).
const LAYOUTS: [(&str, &str); 2] = [(GPT2_ENCODER, GPT2_MERGES), (HF_ENCODER, HF_MERGES)];

/// Two pieces that merge into one.
pub type Merge = (String, String);

pub struct Vocab {
    pub kind: TokenizerKind,
    pub encoder: HashMap<String, u32>,
    pub merges: Vec<(String, String)>,
}

/// GPT-1 release-named pairs in `dir`: `encoder_bpe_N.json` with `vocab_N.bpe`, any N.
fn release_pairs(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut pairs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(n) = name
                .strip_prefix("encoder_bpe_")
                .and_then(|r| r.strip_suffix(".json"))
            {
                let merges = dir.join(format!("vocab_{n}.bpe"));
                if merges.exists() {
                    pairs.push((dir.join(&name), merges));
                }
            }
        }
    }
    pairs.sort();
    pairs
}

/// Every complete (encoder, merges) pair of files in `dir`.
pub fn find_all_files(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>, TokenizerError> {
    let mut found = release_pairs(dir);
    found.extend(
        LAYOUTS
            .iter()
            .filter(|(e, m)| dir.join(e).exists() && dir.join(m).exists())
            .map(|(e, m)| (dir.join(e), dir.join(m))),
    );
    if found.is_empty() {
        return Err(TokenizerError::Format {
            path: dir.to_path_buf(),
            line: None,
            message: format!(
                "no vocabulary: expected {ORIGINAL_ENCODER} + {ORIGINAL_MERGES} (or another merge count), \
                 {GPT2_ENCODER} + {GPT2_MERGES} or {HF_ENCODER} + {HF_MERGES}"
            ),
        });
    }
    Ok(found)
}

/// The first complete pair of files in `dir`.
pub fn find_files(dir: &Path) -> Result<(PathBuf, PathBuf), TokenizerError> {
    Ok(find_all_files(dir)?.remove(0))
}

/// Characters that end a piece in a merges file: the release reads each line with Python's
/// `str.split()`, which splits on Unicode whitespace and on the separators U+001C–U+001F, and
/// Hugging Face splits on spaces. A piece holding one of these cannot be written as a merge.
pub fn is_merge_separator(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The pipeline a vocabulary is for (the rule is in the module comment).
/// The merges' characters are checked by `load_files`, which knows their lines.
pub fn detect_kind(
    encoder: &HashMap<String, u32>,
    encoder_path: &Path,
) -> Result<TokenizerKind, TokenizerError> {
    let format = |path: &Path, line: Option<usize>, message: String| TokenizerError::Format {
        path: path.to_path_buf(),
        line,
        message,
    };
    let word_end = encoder.keys().find(|p| p.ends_with("</w>"));
    let space = encoder.keys().find(|p| p.contains('Ġ'));
    match (word_end, space) {
        (Some(_), None) => Ok(TokenizerKind::Gpt1),
        (Some(a), Some(b)) => Err(format(
            encoder_path,
            None,
            format!(
                "ambiguous vocabulary: {a:?} ends in </w> (GPT-1) but {b:?} has Ġ (GPT-2 byte-level)"
            ),
        )),
        (None, None) => Err(format(
            encoder_path,
            None,
            "cannot tell the kind: no piece ends in </w> (GPT-1) or contains Ġ (GPT-2 byte-level)"
                .into(),
        )),
        (None, Some(_)) => {
            // In id order, so the error names the same piece every time.
            let mut pieces: Vec<(&u32, &String)> = encoder.iter().map(|(p, i)| (i, p)).collect();
            pieces.sort_unstable();
            for (_, piece) in pieces {
                if let Err(c) = crate::gpt2::bytes::piece_bytes(piece) {
                    return Err(format(
                        encoder_path,
                        None,
                        format!("byte-level vocabulary, but {piece:?} has {c:?}, which stands for no byte"),
                    ));
                }
            }
            Ok(TokenizerKind::Gpt2ByteLevel)
        }
    }
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
    Ok(parse_merges_with_lines(text, path)?
        .into_iter()
        .map(|(_, pair)| pair)
        .collect())
}

/// The merges with their line numbers (from 1).
pub fn parse_merges_with_lines(
    text: &str,
    path: &Path,
) -> Result<Vec<(usize, Merge)>, TokenizerError> {
    let mut merges = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        // The release reads `split('\n')[1:-1]`: the first line is `#version: ...`.
        if (i == 0 && line.starts_with("#version")) || line.is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => {
                merges.push((i + 1, (a.to_string(), b.to_string())))
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

/// One pair of files, parsed and its kind detected.
pub fn load_files(encoder_path: &Path, merges_path: &Path) -> Result<Vocab, TokenizerError> {
    let encoder = parse_encoder(&read(encoder_path)?, encoder_path)?;
    let lined = parse_merges_with_lines(&read(merges_path)?, merges_path)?;
    let kind = detect_kind(&encoder, encoder_path)?;
    if kind == TokenizerKind::Gpt2ByteLevel {
        for (line, (a, b)) in &lined {
            for piece in [a, b] {
                if let Err(c) = crate::gpt2::bytes::piece_bytes(piece) {
                    return Err(TokenizerError::Format {
                        path: merges_path.to_path_buf(),
                        line: Some(*line),
                        message: format!(
                            "byte-level merges, but {piece:?} has {c:?}, which stands for no byte"
                        ),
                    });
                }
            }
        }
    }
    let merges = lined.into_iter().map(|(_, pair)| pair).collect();
    Ok(Vocab {
        kind,
        encoder,
        merges,
    })
}

/// The vocabulary in `dir`: every complete pair of files is loaded, and they must agree.
pub fn load(dir: &Path) -> Result<Vocab, TokenizerError> {
    let files = find_all_files(dir)?;
    let vocab = load_files(&files[0].0, &files[0].1)?;
    for (encoder_path, merges_path) in &files[1..] {
        let other = load_files(encoder_path, merges_path)?;
        let differs = if other.kind != vocab.kind {
            Some(format!("{:?} vs {:?}", vocab.kind, other.kind))
        } else if other.encoder != vocab.encoder || other.merges != vocab.merges {
            Some("different pieces or merges".to_string())
        } else {
            None
        };
        if let Some(why) = differs {
            return Err(TokenizerError::Format {
                path: dir.to_path_buf(),
                line: None,
                message: format!(
                    "ambiguous directory: {} + {} and {} + {} disagree ({why})",
                    files[0].0.display(),
                    files[0].1.display(),
                    encoder_path.display(),
                    merges_path.display()
                ),
            });
        }
    }
    Ok(vocab)
}

/// Writes two layouts into `dir`: the release's of its kind (GPT-1's `encoder_bpe_N.json` and
/// `vocab_N.bpe`, N = the number of merges, or GPT-2's `encoder.json` and `vocab.bpe`) and
/// Hugging Face's. Files of another release layout already there are left alone, and would make
/// `load` fail if they disagree. A merge that the format cannot hold (an empty piece, or one with
/// whitespace, see [`is_merge_separator`]) is an error, not a file that fails to load; the
/// encoder, being JSON, holds any piece.
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
        if [a, b]
            .iter()
            .any(|p| p.is_empty() || p.chars().any(is_merge_separator))
        {
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
    let release = match detect_kind(encoder, dir) {
        Ok(TokenizerKind::Gpt2ByteLevel) => (GPT2_ENCODER.to_string(), GPT2_MERGES.to_string()),
        _ => (format!("encoder_bpe_{n}.json"), format!("vocab_{n}.bpe")),
    };
    for (e, m) in [release, (HF_ENCODER.to_string(), HF_MERGES.to_string())] {
        let (e, m) = (e.as_str(), m.as_str());
        std::fs::write(dir.join(e), &encoder_json).map_err(io(&dir.join(e)))?;
        std::fs::write(dir.join(m), &merges_text).map_err(io(&dir.join(m)))?;
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
