//! The GPT-1 text pipeline of the official release's `TextEncoder`, in Rust:
//! `ftfy.fix_text` → `text_standardize` → spaCy English word splitting → lowercase → BPE with
//! `</w>` → ids (pieces missing from the encoder become 0, `<unk>`); and GPT-2's byte-level
//! BPE (module `gpt2`). `Tokenizer::from_dir` tells them apart by the vocabulary's pieces.

pub mod bpe;
pub mod english;
pub mod fix_text;
pub mod gpt2;
pub mod jsonl;
pub mod standardize;
pub mod train;
pub mod vocab;
mod word_cache;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use fix_text::fix_text;
pub use gpt2::train::train_byte_level_bpe;
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

/// Which text pipeline a tokenizer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenizerKind {
    /// GPT-1: ftfy, standardise, spaCy-style split, lowercase, BPE with `</w>`.
    Gpt1,
    /// GPT-2: byte-level BPE over the raw UTF-8 bytes (pieces like `Ġthe`).
    Gpt2ByteLevel,
}

struct Gpt1 {
    bpe: bpe::Bpe,
    splitter: english::EnglishSplitter,
    cache: word_cache::WordCache,
}

// Boxed: both are large, and a tokenizer is made once.
enum Pipeline {
    Gpt1(Box<Gpt1>),
    ByteLevel(Box<gpt2::ByteLevel>),
}

pub struct Tokenizer {
    encoder: HashMap<String, u32>,
    decoder: Vec<String>,
    pipeline: Pipeline,
    specials: Vec<String>,
    fingerprint: u64,
}

fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

impl Tokenizer {
    /// Loads GPT-1's `encoder_bpe_40000.json` + `vocab_40000.bpe`, GPT-2's `encoder.json` +
    /// `vocab.bpe`, or Hugging Face's `vocab.json` + `merges.txt` (either kind); the kind is
    /// read from the pieces (see `vocab::detect_kind`).
    pub fn from_dir(dir: &Path) -> Result<Self, TokenizerError> {
        let v = vocab::load(dir)?;
        Ok(match v.kind {
            TokenizerKind::Gpt1 => Self::new(v.encoder, v.merges),
            TokenizerKind::Gpt2ByteLevel => Self::new_byte_level(v.encoder, v.merges),
        })
    }

    /// A GPT-1 tokenizer. `encoder` must number its pieces 0..n, each id once (as
    /// `vocab::parse_encoder` checks and `train_bpe` produces): the decoder is a table of max
    /// id + 1 entries.
    pub fn new(encoder: HashMap<String, u32>, merges: Vec<(String, String)>) -> Self {
        let decoder = decoder_of(&encoder);
        let pipeline = Pipeline::Gpt1(Box::new(Gpt1 {
            bpe: bpe::Bpe::new(&merges),
            splitter: english::EnglishSplitter::new(),
            cache: word_cache::WordCache::default(),
        }));
        Self::assemble(
            encoder,
            decoder,
            &merges,
            pipeline,
            0xcbf2_9ce4_8422_2325u64,
        )
    }

    /// A GPT-2 byte-level tokenizer, with the same requirements on `encoder` as `new`.
    pub fn new_byte_level(encoder: HashMap<String, u32>, merges: Vec<(String, String)>) -> Self {
        let decoder = decoder_of(&encoder);
        let pipeline = Pipeline::ByteLevel(Box::new(gpt2::ByteLevel::new(&decoder, &merges)));
        // The kind goes into the hash first, so the same files read as the other kind (were
        // that possible) would not pass for the same tokenizer. GPT-1's start is unchanged, so
        // data made before GPT-2 support keeps its fingerprint.
        let seed = fnv1a(0xcbf2_9ce4_8422_2325u64, b"gpt2-byte-level\0");
        Self::assemble(encoder, decoder, &merges, pipeline, seed)
    }

    fn assemble(
        encoder: HashMap<String, u32>,
        decoder: Vec<String>,
        merges: &[(String, String)],
        pipeline: Pipeline,
        seed: u64,
    ) -> Self {
        let mut fingerprint = seed;
        for piece in &decoder {
            fingerprint = fnv1a(fnv1a(fingerprint, piece.as_bytes()), &[0]);
        }
        for (a, b) in merges {
            fingerprint = fnv1a(fnv1a(fnv1a(fingerprint, a.as_bytes()), b" "), b.as_bytes());
        }
        Self {
            encoder,
            decoder,
            pipeline,
            specials: Vec::new(),
            fingerprint,
        }
    }

    pub fn kind(&self) -> TokenizerKind {
        match self.pipeline {
            Pipeline::Gpt1(_) => TokenizerKind::Gpt1,
            Pipeline::ByteLevel(_) => TokenizerKind::Gpt2ByteLevel,
        }
    }

    /// GPT-2's `<|endoftext|>` (50256), the document separator; None for GPT-1, which has
    /// none in its vocabulary.
    pub fn eot_id(&self) -> Option<u32> {
        match self.pipeline {
            Pipeline::Gpt1(_) => None,
            Pipeline::ByteLevel(_) => self.token_id(gpt2::END_OF_TEXT),
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

    /// The pieces of `text`: for GPT-1 after fixing, standardising, splitting, lowercasing and
    /// BPE; for GPT-2 the byte-level pieces (`GPT2Tokenizer.tokenize`, e.g. `Ġworld`).
    pub fn pieces(&self, text: &str) -> Vec<String> {
        match &self.pipeline {
            Pipeline::Gpt1(gpt1) => {
                let Gpt1 { bpe, splitter, .. } = &**gpt1;
                let standardized = text_standardize(&fix_text(text));
                splitter
                    .split(&standardized)
                    .iter()
                    .flat_map(|word| bpe.encode(&word.to_lowercase()))
                    .collect()
            }
            Pipeline::ByteLevel(byte_level) => byte_level.pieces(text),
        }
    }

    /// The ids of `text`. Special-token names in the text are plain text here (for GPT-2, as
    /// OpenAI's `encoder.py`; `<|endoftext|>` in a document is 6 ordinary tokens, so text
    /// cannot forge a document boundary). `encode_with_special_tokens` matches them instead.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        match &self.pipeline {
            Pipeline::Gpt1(gpt1) => {
                let Gpt1 {
                    bpe,
                    splitter,
                    cache,
                } = &**gpt1;
                let standardized = text_standardize(&fix_text(text));
                let mut ids = Vec::new();
                for word in splitter.split(&standardized) {
                    let word = word.to_lowercase();
                    cache.extend(&word, &mut ids, |ids| {
                        ids.extend(
                            bpe.encode(&word)
                                .iter()
                                .map(|p| self.encoder.get(p).copied().unwrap_or(0)),
                        )
                    });
                }
                ids
            }
            Pipeline::ByteLevel(byte_level) => {
                let mut ids = Vec::with_capacity(text.len() / 4);
                byte_level.encode(text, &mut ids);
                ids
            }
        }
    }

    /// As `encode`, but an occurrence of a special token's name in `text` becomes its id:
    /// GPT-2's `<|endoftext|>` and the names given to `add_special_tokens` (the longest one
    /// at a position wins), with the text between encoded on its own. This is
    /// `GPT2Tokenizer`'s default (its `split_special_tokens=False`).
    pub fn encode_with_special_tokens(&self, text: &str) -> Vec<u32> {
        let mut names: Vec<(&str, u32)> = self
            .specials
            .iter()
            .enumerate()
            .map(|(i, name)| (name.as_str(), (self.vocab_size() + i) as u32))
            .collect();
        if let Some(eot) = self.eot_id() {
            names.push((gpt2::END_OF_TEXT, eot));
        }
        names.retain(|(name, _)| !name.is_empty());
        names.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
        let mut ids = Vec::new();
        let (mut start, mut i) = (0, 0);
        while i < text.len() {
            match names.iter().find(|(name, _)| text[i..].starts_with(name)) {
                Some(&(name, id)) => {
                    ids.extend(self.encode(&text[start..i]));
                    ids.push(id);
                    i += name.len();
                    start = i;
                }
                None => i += text[i..].chars().next().map_or(1, char::len_utf8),
            }
        }
        ids.extend(self.encode(&text[start..]));
        ids
    }

    /// Encodes texts in parallel, results in input order.
    pub fn encode_batch(&self, texts: &[&str]) -> Vec<Vec<u32>> {
        texts.par_iter().map(|t| self.encode(t)).collect()
    }

    /// The piece of one id (GPT-1: `</w>` marks a word end; GPT-2: byte-level, `Ġ` is a
    /// space), or the special token's name.
    pub fn piece(&self, id: u32) -> Option<&str> {
        match self.decoder.get(id as usize) {
            Some(p) => Some(p.as_str()),
            None => self
                .specials
                .get(id as usize - self.decoder.len())
                .map(String::as_str),
        }
    }

    /// GPT-1: pieces joined, `</w>` read as a word end, the end trimmed. GPT-2: the exact
    /// text, `decode_bytes` read as UTF-8 with each invalid sequence replaced by U+FFFD (as
    /// `GPT2Tokenizer.decode`, `errors="replace"`). Special tokens decode to their names.
    pub fn decode(&self, ids: &[u32]) -> String {
        if let Pipeline::ByteLevel(_) = self.pipeline {
            return String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned();
        }
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

    /// GPT-2: the bytes the ids stand for, exactly (a character cut between ids, or bytes that
    /// were never UTF-8, come back as they were); ids past the vocabulary and the specials
    /// give U+FFFD's bytes. GPT-1: `decode`'s text.
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        let Pipeline::ByteLevel(byte_level) = &self.pipeline else {
            return self.decode(ids).into_bytes();
        };
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            match byte_level.id_bytes(id) {
                Some(bytes) => out.extend_from_slice(bytes),
                None => out.extend_from_slice(
                    self.specials
                        .get(id as usize - self.decoder.len())
                        .map_or("\u{FFFD}", String::as_str)
                        .as_bytes(),
                ),
            }
        }
        out
    }
}

/// The pieces in id order.
fn decoder_of(encoder: &HashMap<String, u32>) -> Vec<String> {
    let size = encoder.values().map(|&i| i as usize + 1).max().unwrap_or(0);
    let mut decoder = vec![String::new(); size];
    for (piece, &id) in encoder {
        decoder[id as usize] = piece.clone();
    }
    decoder
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
