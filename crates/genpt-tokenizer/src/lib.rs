//! The GPT-1 text pipeline of the official release's `TextEncoder`, in Rust:
//! `ftfy.fix_text` → `text_standardize` → spaCy English word splitting → lowercase → BPE with
//! `</w>` → ids (pieces missing from the encoder become 0, `<unk>`).

pub mod bpe;
pub mod english;
pub mod fix_text;
pub mod jsonl;
pub mod standardize;
pub mod train;
pub mod vocab;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use rayon::prelude::*;

pub use fix_text::fix_text;
pub use jsonl::{encode_jsonl, JsonlStats};
pub use standardize::text_standardize;
pub use train::train_bpe;

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Format {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
}

/// Word → ids, cached: book text repeats its words constantly.
const WORD_CACHE_LIMIT: usize = 500_000;

pub struct Tokenizer {
    encoder: HashMap<String, u32>,
    decoder: Vec<String>,
    bpe: bpe::Bpe,
    splitter: english::EnglishSplitter,
    specials: Vec<String>,
    fingerprint: u64,
    cache: RwLock<HashMap<String, Vec<u32>>>,
}

fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

impl Tokenizer {
    /// Loads `encoder_bpe_40000.json` + `vocab_40000.bpe`, or `vocab.json` + `merges.txt`.
    pub fn from_dir(dir: &Path) -> Result<Self, TokenizerError> {
        let v = vocab::load(dir)?;
        Ok(Self::new(v.encoder, v.merges))
    }

    /// `encoder` must number its pieces 0..n, each id once (as `vocab::parse_encoder` checks
    /// and `train_bpe` produces): the decoder is a table of max id + 1 entries.
    pub fn new(encoder: HashMap<String, u32>, merges: Vec<(String, String)>) -> Self {
        let size = encoder.values().map(|&i| i as usize + 1).max().unwrap_or(0);
        let mut decoder = vec![String::new(); size];
        for (piece, &id) in &encoder {
            decoder[id as usize] = piece.clone();
        }
        let mut fingerprint = 0xcbf2_9ce4_8422_2325u64;
        for piece in &decoder {
            fingerprint = fnv1a(fnv1a(fingerprint, piece.as_bytes()), &[0]);
        }
        for (a, b) in &merges {
            fingerprint = fnv1a(fnv1a(fnv1a(fingerprint, a.as_bytes()), b" "), b.as_bytes());
        }
        Self {
            encoder,
            decoder,
            bpe: bpe::Bpe::new(&merges),
            splitter: english::EnglishSplitter::new(),
            specials: Vec::new(),
            fingerprint,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Entries of the encoder (40,478 for GPT-1); special tokens come after.
    pub fn vocab_size(&self) -> usize {
        self.decoder.len()
    }

    pub fn token_id(&self, piece: &str) -> Option<u32> {
        self.encoder.get(piece).copied()
    }

    /// A stable hash of the vocabulary and merges: data made with another vocabulary shows.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Appends special tokens (e.g. `_start_`, `_delimiter_`, `_classify_`) with ids after the
    /// vocabulary and any earlier specials; `encode` never produces them.
    pub fn add_special_tokens(&mut self, names: &[&str]) -> Vec<u32> {
        names
            .iter()
            .map(|name| {
                self.specials.push(name.to_string());
                (self.vocab_size() + self.specials.len() - 1) as u32
            })
            .collect()
    }

    /// The pieces of `text` (after fixing, standardising, splitting, lowercasing and BPE).
    pub fn pieces(&self, text: &str) -> Vec<String> {
        let standardized = text_standardize(&fix_text(text));
        self.splitter
            .split(&standardized)
            .iter()
            .flat_map(|word| self.bpe.encode(&word.to_lowercase()))
            .collect()
    }

    pub fn encode(&self, text: &str) -> Vec<u32> {
        let standardized = text_standardize(&fix_text(text));
        let mut ids = Vec::new();
        for word in self.splitter.split(&standardized) {
            let word = word.to_lowercase();
            if let Some(cached) = self.cache.read().expect("cache lock").get(&word) {
                ids.extend_from_slice(cached);
                continue;
            }
            let word_ids: Vec<u32> = self
                .bpe
                .encode(&word)
                .iter()
                .map(|p| self.encoder.get(p).copied().unwrap_or(0))
                .collect();
            ids.extend_from_slice(&word_ids);
            let mut cache = self.cache.write().expect("cache lock");
            if cache.len() >= WORD_CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(word, word_ids);
        }
        ids
    }

    /// Encodes texts in parallel, results in input order.
    pub fn encode_batch(&self, texts: &[&str]) -> Vec<Vec<u32>> {
        texts.par_iter().map(|t| self.encode(t)).collect()
    }

    /// The piece of one id (`</w>` marks a word end), or the special token's name.
    pub fn piece(&self, id: u32) -> Option<&str> {
        match self.decoder.get(id as usize) {
            Some(p) => Some(p.as_str()),
            None => self
                .specials
                .get(id as usize - self.decoder.len())
                .map(String::as_str),
        }
    }

    /// Pieces joined, `</w>` read as a word end. Special tokens decode to their names.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut out = String::new();
        for &id in ids {
            let piece = match self.decoder.get(id as usize) {
                Some(p) => p.as_str(),
                None => self
                    .specials
                    .get(id as usize - self.decoder.len())
                    .map_or("<unk>", String::as_str),
            };
            match piece.strip_suffix("</w>") {
                Some(word) => {
                    out.push_str(word);
                    out.push(' ');
                }
                None => out.push_str(piece),
            }
        }
        out.trim_end().to_string()
    }
}

/// Decodes bytes as UTF-8, replacing invalid sequences with U+FFFD; returns how many.
pub fn decode_utf8_lossy_counted(bytes: &[u8]) -> (String, usize) {
    let mut out = String::with_capacity(bytes.len());
    let mut replaced = 0;
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push('\u{FFFD}');
            replaced += 1;
        }
    }
    (out, replaced)
}
