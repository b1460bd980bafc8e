//! Learning a new BPE vocabulary over the same pre-tokenization as encoding (fix_text →
//! text_standardize → English splitting → lowercase), laid out like the release's encoder:
//! `<unk>` (id 0), the characters by frequency, the same characters with `</w>`, the merged
//! pieces in merge order, and `\n</w>` last. Words with whitespace in them are not merged (see
//! `train_bpe`), so every merge can be written to and read from a merges file.
//!
//! The most frequent adjacent pair is merged each round; ties go to the smallest pair in byte
//! order, so the result depends only on the corpus. Pair counts are updated incrementally,
//! touching only the words that contain the merged pair.

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;

use crate::english::EnglishSplitter;
use crate::{fix_text, text_standardize};

/// Word frequencies of `texts` after the GPT-1 pre-tokenization.
pub fn count_words<'a>(texts: impl IntoParallelIterator<Item = &'a str>) -> HashMap<String, u64> {
    let splitter = EnglishSplitter::new();
    texts
        .into_par_iter()
        .fold(HashMap::new, |mut counts: HashMap<String, u64>, text| {
            for word in splitter.split(&text_standardize(&fix_text(text))) {
                *counts.entry(word.to_lowercase()).or_default() += 1;
            }
            counts
        })
        .reduce(HashMap::new, |mut a, b| {
            for (w, c) in b {
                *a.entry(w).or_default() += c;
            }
            a
        })
}

/// Learns up to `n_merges` merges from word counts; `progress` is called with the merges done.
/// Returns the encoder (piece → id) and the merges in rank order.
pub fn train_bpe(
    word_counts: &HashMap<String, u64>,
    n_merges: usize,
    progress: &dyn Fn(usize),
) -> (HashMap<String, u32>, Vec<(String, String)>) {
    // Words as symbol lists, sorted for determinism. A word holding whitespace (spaCy keeps
    // "\n", runs of spaces and NBSP-joined text as tokens) takes no part in merges: a merges
    // file cannot hold such a piece (`vocab::is_merge_separator`). Its characters still get
    // encoder entries below, so it encodes as characters rather than as `<unk>`.
    let words: Vec<(Vec<String>, u64)> = word_counts
        .iter()
        .filter(|(w, _)| !w.is_empty() && !w.chars().any(crate::vocab::is_merge_separator))
        .map(|(w, &c)| {
            let chars: Vec<char> = w.chars().collect();
            let mut symbols: Vec<String> = chars[..chars.len() - 1]
                .iter()
                .map(|c| c.to_string())
                .collect();
            symbols.push(format!("{}</w>", chars[chars.len() - 1]));
            (symbols, c)
        })
        .collect();

    // Base characters by frequency (descending), ties by character.
    let mut char_counts: HashMap<char, u64> = HashMap::new();
    for (w, &c) in word_counts {
        for ch in w.chars() {
            *char_counts.entry(ch).or_default() += c;
        }
    }
    let mut chars: Vec<(char, u64)> = char_counts.into_iter().collect();
    chars.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    let merges = learn_merges(words, n_merges, progress);

    let mut encoder = HashMap::new();
    let add = |piece: String, encoder: &mut HashMap<String, u32>| {
        let next = encoder.len() as u32;
        encoder.entry(piece).or_insert(next);
    };
    add("<unk>".into(), &mut encoder);
    for (c, _) in &chars {
        add(c.to_string(), &mut encoder);
    }
    for (c, _) in &chars {
        add(format!("{c}</w>"), &mut encoder);
    }
    for (a, b) in &merges {
        add(format!("{a}{b}"), &mut encoder);
    }
    add("\n</w>".into(), &mut encoder);
    (encoder, merges)
}

/// The merges of symbol lists (each with its count), most frequent adjacent pair first, ties
/// to the smallest pair in byte order, up to `n_merges`. Shared with GPT-2's byte-level
/// training, which only starts from other symbols.
pub fn learn_merges(
    mut words: Vec<(Vec<String>, u64)>,
    n_merges: usize,
    progress: &dyn Fn(usize),
) -> Vec<(String, String)> {
    // Sorted, so the result does not depend on the callers' (hash) order.
    words.sort();
    let mut pair_counts: HashMap<(String, String), i64> = HashMap::new();
    let mut where_: HashMap<(String, String), BTreeSet<usize>> = HashMap::new();
    for (i, (symbols, count)) in words.iter().enumerate() {
        for pair in symbols.windows(2) {
            let key = (pair[0].clone(), pair[1].clone());
            *pair_counts.entry(key.clone()).or_default() += *count as i64;
            where_.entry(key).or_default().insert(i);
        }
    }

    let mut merges = Vec::new();
    while merges.len() < n_merges {
        let Some((best, _)) = pair_counts
            .iter()
            .filter(|(_, &c)| c > 0)
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(k, c)| (k.clone(), *c))
        else {
            break;
        };
        let merged = format!("{}{}", best.0, best.1);
        let affected: Vec<usize> = where_
            .remove(&best)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        for i in affected {
            let (symbols, count) = &mut words[i];
            let count = *count as i64;
            // Remove this word's old pairs, merge, add its new pairs.
            for pair in symbols.windows(2) {
                let key = (pair[0].clone(), pair[1].clone());
                if let Some(c) = pair_counts.get_mut(&key) {
                    *c -= count;
                }
            }
            let mut next = Vec::with_capacity(symbols.len());
            let mut j = 0;
            while j < symbols.len() {
                if j + 1 < symbols.len() && symbols[j] == best.0 && symbols[j + 1] == best.1 {
                    next.push(merged.clone());
                    j += 2;
                } else {
                    next.push(std::mem::take(&mut symbols[j]));
                    j += 1;
                }
            }
            *symbols = next;
            for pair in symbols.windows(2) {
                let key = (pair[0].clone(), pair[1].clone());
                *pair_counts.entry(key.clone()).or_default() += count;
                where_.entry(key).or_default().insert(i);
            }
        }
        pair_counts.remove(&best);
        merges.push(best);
        if merges.len() % 100 == 0 {
            progress(merges.len());
        }
    }
    progress(merges.len());

    merges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_follow_pair_frequency() {
        // "low" ×5, "lower" ×2, "lowest" ×3 → pairs: (l,o) 10, (o,w</w>) 5, (o,w) 5, (w,e) 5 ...
        // Most frequent is (l,o) with 10; then ("lo","w") 5 (lower, lowest) ties with
        // ("lo","w</w>") 5 and ("w","e") 5: ties go to the smallest pair in byte order,
        // ("lo","w") < ("lo","w</w>") < ("w","e"). Next ("lo","w</w>") 5 ties with ("low","e")
        // 5, and "lo" < "low".
        let counts: HashMap<String, u64> = [("low", 5), ("lower", 2), ("lowest", 3)]
            .iter()
            .map(|(w, c)| (w.to_string(), *c))
            .collect();
        let (encoder, merges) = train_bpe(&counts, 3, &|_| {});
        assert_eq!(merges[0], ("l".into(), "o".into()));
        assert_eq!(merges[1], ("lo".into(), "w".into()));
        assert_eq!(merges[2], ("lo".into(), "w</w>".into()));
        assert_eq!(encoder["<unk>"], 0);
        assert_eq!(encoder["l"], 1, "most frequent character first");
        assert!(encoder["low"] > encoder["l</w>"]);
        assert_eq!(encoder["\n</w>"] as usize, encoder.len() - 1);
    }

    #[test]
    fn a_trained_vocabulary_encodes_its_words_whole() {
        let counts = count_words(vec!["The cat sat on the mat. The cat ate."]);
        let (encoder, merges) = train_bpe(&counts, 200, &|_| {});
        let tokenizer = crate::Tokenizer::new(encoder, merges);
        let ids = tokenizer.encode("the cat sat");
        assert_eq!(tokenizer.decode(&ids), "the cat sat");
        assert_eq!(ids.len(), 3, "each frequent word became one piece");
    }
}
