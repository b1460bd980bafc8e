//! GPT-2's text pipeline (OpenAI's `encoder.py`, transformers' `GPT2Tokenizer`): text →
//! UTF-8 bytes, split by the pre-tokenizer regex, each pre-token's bytes written as byte-level
//! characters and merged by rank → ids. No normalisation, no lowercasing: decoding gives back
//! the exact bytes.
//!
//! Written here rather than with Hugging Face's `tokenizers` crate: the algorithm is small
//! (about 400 lines with the heap), while `tokenizers` (1.0 release candidates now, split into
//! sub-crates; none of it in this workspace's lock file) brings its own dependency stack to
//! compile for one model type of many, even without default features; and its pure-Rust
//! regex path (fancy-regex, for the `(?!\S)` lookahead) runs a backtracking VM where the
//! scanner in `pretokenize` makes one pass. Exactness is shown
//! the same way either would need: against transformers' `GPT2Tokenizer` (which is
//! `tokenizers` underneath in transformers 5) and encoder.py, in tests/gpt2_parity.rs.
//!
//! Choices where the references differ or leave a choice:
//! - `<|endoftext|>` in text is plain text for `Tokenizer::encode` (encoder.py, tiktoken's
//!   `encode_ordinary`); `GPT2Tokenizer` matches it as the special token by default, which is
//!   `Tokenizer::encode_with_special_tokens`.
//! - A byte missing from a small vocabulary is dropped, as transformers 5 (see `bpe::Bpe`).
//! - Code points assigned in Unicode after regex-syntax's tables may be classed differently
//!   from Python `regex` (they are "other" here); the references disagree among themselves
//!   there too.

pub mod bpe;
pub mod bytes;
pub mod pretokenize;
pub mod train;

/// The end-of-text piece of GPT-2's vocabulary (id 50256).
pub const END_OF_TEXT: &str = "<|endoftext|>";

pub struct ByteLevel {
    bpe: bpe::Bpe,
    vocab_size: usize,
    /// What a merged piece missing from the vocabulary becomes: GPT2Tokenizer's `unk_token`,
    /// `<|endoftext|>` (0 if the vocabulary lacks it too).
    unk: u32,
    /// The bytes of each vocabulary id.
    bytes: Vec<Box<[u8]>>,
    cache: crate::word_cache::WordCache,
}

impl ByteLevel {
    /// `pieces` are the vocabulary in id order. A piece with a character outside the 256 of
    /// the byte map decodes to its UTF-8 text (`vocab::load` rejects such vocabularies).
    pub fn new(pieces: &[String], merges: &[(String, String)]) -> Self {
        let unk = pieces.iter().position(|p| p == END_OF_TEXT).unwrap_or(0) as u32;
        Self {
            bpe: bpe::Bpe::new(pieces, merges),
            vocab_size: pieces.len(),
            unk,
            bytes: pieces
                .iter()
                .map(|p| {
                    bytes::piece_bytes(p)
                        .unwrap_or_else(|_| p.as_bytes().to_vec())
                        .into()
                })
                .collect(),
            cache: crate::word_cache::WordCache::default(),
        }
    }

    fn id(&self, symbol: u32) -> u32 {
        if (symbol as usize) < self.vocab_size {
            symbol
        } else {
            self.unk
        }
    }

    /// Ids of `text`, special-token names included as plain text.
    pub fn encode(&self, text: &str, ids: &mut Vec<u32>) {
        let mut symbols = Vec::new();
        pretokenize::split(text, |word| {
            self.cache.extend(word, ids, |ids| {
                symbols.clear();
                self.bpe.encode(word.as_bytes(), &mut symbols);
                ids.extend(symbols.iter().map(|&s| self.id(s)));
            });
        });
    }

    /// The byte-level pieces of `text` (GPT2Tokenizer's `tokenize`), before the lookup of ids.
    pub fn pieces(&self, text: &str) -> Vec<String> {
        let mut pieces = Vec::new();
        let mut symbols = Vec::new();
        pretokenize::split(text, |word| {
            symbols.clear();
            self.bpe.encode(word.as_bytes(), &mut symbols);
            pieces.extend(symbols.iter().map(|&s| self.bpe.symbol(s).to_string()));
        });
        pieces
    }

    /// The bytes of a vocabulary id, or None past the vocabulary.
    pub fn id_bytes(&self, id: u32) -> Option<&[u8]> {
        self.bytes.get(id as usize).map(|b| &b[..])
    }

    pub fn uses_heap(&self) -> bool {
        self.bpe.uses_heap()
    }
}
