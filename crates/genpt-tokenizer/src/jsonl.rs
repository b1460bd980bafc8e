//! `{"text": ...}` lines in, the same lines with `"ids": [...]` added out, in order.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::{Tokenizer, TokenizerError};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct JsonlStats {
    pub lines: usize,
    pub tokens: usize,
    pub bytes: usize,
}

const CHUNK: usize = 4096;

pub fn encode_jsonl(
    tokenizer: &Tokenizer,
    input: &Path,
    output: &Path,
) -> Result<JsonlStats, TokenizerError> {
    let io_in = |e| TokenizerError::Io {
        path: input.to_path_buf(),
        source: e,
    };
    let io_out = |e| TokenizerError::Io {
        path: output.to_path_buf(),
        source: e,
    };
    let reader = std::io::BufReader::new(std::fs::File::open(input).map_err(io_in)?);
    let mut writer = BufWriter::new(std::fs::File::create(output).map_err(io_out)?);
    let mut stats = JsonlStats::default();
    let mut lines = reader.lines().enumerate();
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        for (number, line) in lines.by_ref().take(CHUNK) {
            chunk.push((number + 1, line.map_err(io_in)?));
        }
        if chunk.is_empty() {
            break;
        }
        let encoded: Vec<Result<Option<(String, usize)>, TokenizerError>> = chunk
            .par_iter()
            .map(|(number, line)| {
                if line.trim().is_empty() {
                    return Ok(None);
                }
                let bad = |message: String| TokenizerError::Format {
                    path: input.to_path_buf(),
                    line: Some(*number),
                    message,
                };
                let mut value: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
                let text = value
                    .get("text")
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| bad("no string field \"text\"".into()))?;
                let ids = tokenizer.encode(text);
                let count = ids.len();
                value["ids"] = serde_json::Value::from(ids);
                Ok(Some((value.to_string(), count)))
            })
            .collect();
        for (result, (_, line)) in encoded.into_iter().zip(&chunk) {
            if let Some((out, count)) = result? {
                stats.lines += 1;
                stats.bytes += line.len();
                stats.tokens += count;
                writeln!(writer, "{out}").map_err(io_out)?;
            }
        }
    }
    writer.flush().map_err(io_out)?;
    Ok(stats)
}
