//! Hostile input: nothing panics, memory stays bounded, bad bytes are counted.

use genpt_tokenizer::train::{count_words, train_bpe};
use genpt_tokenizer::{decode_utf8_lossy_counted, Tokenizer};

fn tokenizer() -> Tokenizer {
    let counts = count_words(vec![
        "the quick brown fox jumps over the lazy dog. don't stop!",
    ]);
    let (encoder, merges) = train_bpe(&counts, 50, &|_| {});
    Tokenizer::new(encoder, merges)
}

#[test]
fn empty_and_whitespace_input() {
    let t = tokenizer();
    assert!(t.encode("").is_empty());
    assert!(t.encode("   \t ").is_empty());
    assert_eq!(
        t.encode("\n\n").len(),
        0,
        "standardize strips surrounding newlines"
    );
}

#[test]
fn control_private_use_and_emoji() {
    let t = tokenizer();
    let ids = t.encode("a\u{0}b\u{7}c \u{E000}\u{F8FF} 😀👍🏽 \u{202E}x \u{FEFF}y");
    assert!(!ids.is_empty());
    // Unknown pieces map to <unk> (0), never out of range.
    assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
}

#[test]
fn invalid_utf8_is_replaced_and_counted() {
    let (text, replaced) = decode_utf8_lossy_counted(b"ok \xff\xfe bad \xc3( end \xe2\x82");
    // As String::from_utf8_lossy counts: \xff, \xfe, the lone \xc3, the truncated \xe2\x82.
    assert_eq!(replaced, 4);
    assert_eq!(
        text,
        String::from_utf8_lossy(b"ok \xff\xfe bad \xc3( end \xe2\x82")
    );
    assert!(!tokenizer().encode(&text).is_empty());
}

#[test]
fn a_ten_megabyte_line() {
    let t = tokenizer();
    let words = [
        "the",
        "quick,",
        "brown",
        "fox!",
        "don't",
        "x1y2",
        "http://a.b/c",
        "naïve",
        "U.S.",
    ];
    let mut line = String::with_capacity(10_500_000);
    let mut i = 0usize;
    while line.len() < 10_000_000 {
        line.push_str(words[i % words.len()]);
        line.push(' ');
        i = i.wrapping_mul(31).wrapping_add(7) % 1_000_003;
    }
    let ids = t.encode(&line);
    assert!(ids.len() > 1_000_000);
}
