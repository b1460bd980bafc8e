//! Learning a new byte-level vocabulary over GPT-2's pre-tokenization (no normalisation, no
//! lowercasing), laid out like GPT-2's `encoder.json`: the 256 byte characters in the byte
//! map's order (printable bytes first, ids 0..187, then the shifted ones), the merged pieces
//! in merge order, and `<|endoftext|>` last. Merges are learnt by `train::learn_merges`, the
//! same rule as GPT-1's training (most frequent pair; ties to the smallest pair in byte order).

use std::collections::HashMap;

use rayon::prelude::*;

use super::bytes::byte_to_char;
use super::{pretokenize, END_OF_TEXT};
use crate::train::learn_merges;

/// Pre-token frequencies of `texts`.
pub fn count_words<'a>(texts: impl IntoParallelIterator<Item = &'a str>) -> HashMap<String, u64> {
    texts
        .into_par_iter()
        .fold(HashMap::new, |mut counts: HashMap<String, u64>, text| {
            pretokenize::split(text, |word| {
                *counts.entry(word.to_string()).or_default() += 1;
            });
            counts
        })
        .reduce(HashMap::new, |mut a, b| {
            for (w, c) in b {
                *a.entry(w).or_default() += c;
            }
            a
        })
}

/// Learns up to `n_merges` merges from pre-token counts; returns the encoder (piece → id) and
/// the merges, for `Tokenizer::new_byte_level` or `vocab::save`. Every byte has a piece, so
/// any text encodes and decodes back exactly.
pub fn train_byte_level_bpe(
    word_counts: &HashMap<String, u64>,
    n_merges: usize,
    progress: &dyn Fn(usize),
) -> (HashMap<String, u32>, Vec<(String, String)>) {
    let table = byte_to_char();
    let words: Vec<(Vec<String>, u64)> = word_counts
        .iter()
        .filter(|(w, _)| !w.is_empty())
        .map(|(w, &c)| {
            let symbols = w.bytes().map(|b| table[b as usize].to_string()).collect();
            (symbols, c)
        })
        .collect();
    let merges = learn_merges(words, n_merges, progress);

    let mut encoder = HashMap::new();
    let mut add = |piece: String| {
        let next = encoder.len() as u32;
        encoder.entry(piece).or_insert(next);
    };
    let mut by_order: Vec<char> = table.to_vec();
    by_order.sort_by_key(|&c| (c as u32) >= 0x100);
    for c in by_order {
        add(c.to_string());
    }
    for (a, b) in &merges {
        add(format!("{a}{b}"));
    }
    add(END_OF_TEXT.to_string());
    (encoder, merges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Tokenizer, TokenizerKind};

    #[test]
    fn layout_follows_gpt2() {
        let (encoder, _) = train_byte_level_bpe(&HashMap::new(), 10, &|_| {});
        // As GPT-2's encoder.json: "!" is 0, "ÿ" 187, "Ā" (byte 0) 188, "Ġ" (space) 220.
        assert_eq!(encoder["!"], 0);
        assert_eq!(encoder["ÿ"], 187);
        assert_eq!(encoder["Ā"], 188);
        assert_eq!(encoder["Ġ"], 220);
        assert_eq!(encoder[END_OF_TEXT], 256);
    }

    #[test]
    fn a_trained_vocabulary_round_trips_and_merges_frequent_words() {
        let text = "The cat sat on the mat. The cat ate.\r\n\tThe cat's naïve 😀!";
        let counts = count_words(vec![text; 3]);
        let (encoder, merges) = train_byte_level_bpe(&counts, 300, &|_| {});
        let tokenizer = Tokenizer::new_byte_level(encoder, merges);
        assert_eq!(tokenizer.kind(), TokenizerKind::Gpt2ByteLevel);
        assert_eq!(tokenizer.eot_id(), Some(tokenizer.vocab_size() as u32 - 1));
        let ids = tokenizer.encode(text);
        assert_eq!(tokenizer.decode(&ids), text);
        assert_eq!(tokenizer.pieces(" cat"), ["Ġcat"]);
        // Unseen text still encodes byte by byte.
        let other = "Zebra ☃ \u{0}";
        assert_eq!(tokenizer.decode(&tokenizer.encode(other)), other);
    }

    #[test]
    fn saved_vocabularies_load_as_byte_level() {
        let counts = count_words(vec!["It's a test, a test!"]);
        let (encoder, merges) = train_byte_level_bpe(&counts, 20, &|_| {});
        let dir = std::env::temp_dir().join(format!("genpt-gpt2-save-{}", std::process::id()));
        crate::vocab::save(&dir, &encoder, &merges).unwrap();
        assert!(dir.join(crate::vocab::GPT2_ENCODER).exists());
        assert!(!dir.join(crate::vocab::ORIGINAL_ENCODER).exists());
        let loaded = Tokenizer::from_dir(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let made = Tokenizer::new_byte_level(encoder, merges);
        assert_eq!(loaded.kind(), TokenizerKind::Gpt2ByteLevel);
        assert_eq!(loaded.fingerprint(), made.fingerprint());
        assert_eq!(loaded.encode(" a test"), made.encode(" a test"));
    }
}
