//! The whole encoding pipeline on arbitrary bytes: lossy UTF-8 → `Tokenizer::encode` (ftfy-style
//! fixes, text_standardize, English splitting, BPE) → `decode`.
//!
//! The tokenizer is trained in-process on a few sentences written here, so the target needs no
//! vocabulary files.

#![no_main]

use std::sync::OnceLock;

use genpt_tokenizer::train::{count_words, train_bpe};
use genpt_tokenizer::{decode_utf8_lossy_counted, Tokenizer};
use libfuzzer_sys::fuzz_target;

const TRAINING_TEXT: &[&str] = &[
    "The quick brown fox jumps over the lazy dog. Don't stop!",
    "She said, \"It's 5 o'clock\" -- and left; nobody (not even Mr. Smith) followed.",
    "Naïve café owners in the U.S. sell crème brûlée for $3.50 (about €3).",
    "Visit http://example.com/a-b?c=d or e-mail someone@example.org today...",
    "Line one\nline two\n\n  line three\twith a tab — and an em dash… ok?",
    "1,234.56 + 7 = 1,241.56; 10% of 200 is 20; x2y3 z-4.",
];

/// Special tokens appended after the vocabulary, as fine-tuning does.
const SPECIALS: &[&str] = &["_start_", "_delimiter_", "_classify_"];

fn tokenizer() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let counts = count_words(TRAINING_TEXT.to_vec());
        let (encoder, merges) = train_bpe(&counts, 300, &|_| {});
        let mut tokenizer = Tokenizer::new(encoder, merges);
        tokenizer.add_special_tokens(SPECIALS);
        tokenizer
    })
}

fuzz_target!(|data: &[u8]| {
    let tokenizer = tokenizer();
    let (text, replaced) = decode_utf8_lossy_counted(data);
    assert!(replaced <= data.len());
    assert_eq!(replaced == 0, std::str::from_utf8(data).is_ok());

    let ids = tokenizer.encode(&text);
    let vocab_size = tokenizer.vocab_size();
    for &id in &ids {
        assert!(
            (id as usize) < vocab_size,
            "id {id} out of range (vocab_size {vocab_size})"
        );
    }
    // The word cache must not change results: encoding again (now from the cache) and the
    // uncached piece path give the same ids.
    assert_eq!(tokenizer.encode(&text), ids, "second encode differs");
    let from_pieces: Vec<u32> = tokenizer
        .pieces(&text)
        .iter()
        .map(|p| tokenizer.token_id(p).unwrap_or(0))
        .collect();
    assert_eq!(from_pieces, ids, "pieces() and encode() disagree");

    let _ = tokenizer.decode(&ids);
    for &id in &ids {
        assert!(tokenizer.piece(id).is_some());
    }

    // Arbitrary ids, in range, out of range and among the special tokens: decode never panics.
    let raw: Vec<u32> = data
        .chunks(2)
        .map(|c| {
            u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32 % (vocab_size as u32 + 8)
        })
        .collect();
    let _ = tokenizer.decode(&raw);
    for &id in &raw {
        let _ = tokenizer.piece(id);
    }
    let _ = tokenizer.decode(&[u32::MAX, vocab_size as u32, vocab_size as u32 + 2]);
});
