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

/// A GPT-2 byte-level tokenizer trained here (no files needed).
fn byte_level() -> Tokenizer {
    let counts = genpt_tokenizer::gpt2::train::count_words(vec![
        "The quick brown fox jumps over the lazy dog. Don't stop!\n\tIt's 5 o'clock.",
        "aaaa aaaaaaaa bbbb 1234 5678 !!!! ???? naïve café 😀 中文",
    ]);
    let (encoder, merges) = genpt_tokenizer::train_byte_level_bpe(&counts, 200, &|_| {});
    Tokenizer::new_byte_level(encoder, merges)
}

/// Any text comes back exactly (byte-level BPE loses nothing), on random strings drawn from
/// ASCII, whitespace of all kinds, marks, CJK, emoji and any code point.
#[test]
fn byte_level_round_trips_random_text() {
    let t = byte_level();
    let pools: [&[char]; 3] = [
        &[
            ' ', ' ', '\t', '\n', '\r', '\u{a0}', '\u{3000}', '\u{85}', '\u{1c}', '\'', 's', 'S',
        ],
        &[
            'a', 'Z', '7', '!', '\u{301}', '中', '😀', '\u{200d}', '\u{0}', '\u{ffff}',
        ],
        &['x', ' ', 'y', '.', '\'', 'l', 'l', 'd', 'D', '9'],
    ];
    let mut seed = 7u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..3000 {
        let len = next() % 40;
        let text: String = (0..len)
            .map(|_| match next() % 4 {
                3 => char::from_u32((next() % 0x11_0000) as u32).unwrap_or('?'),
                k => pools[k % 3][next() % pools[k % 3].len()],
            })
            .collect();
        let ids = t.encode(&text);
        assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
        assert_eq!(t.decode(&ids), text);
        assert_eq!(t.decode_bytes(&ids), text.as_bytes());
    }
}

/// Ten megabytes in one pre-token (random letters take the heap), in one whitespace run,
/// and of one letter: each encodes in bounded time and comes back exactly.
#[test]
fn byte_level_ten_megabyte_words() {
    let t = byte_level();
    let mut seed = 1u64;
    let letters: String = (0..10_000_000)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (b'a' + ((seed >> 33) % 26) as u8) as char
        })
        .collect();
    for text in [letters, " ".repeat(10_000_000), "a".repeat(10_000_000)] {
        let start = std::time::Instant::now();
        let ids = t.encode(&text);
        assert!(start.elapsed().as_secs() < 60, "{:?}", start.elapsed());
        assert_eq!(t.decode_bytes(&ids), text.as_bytes());
    }
}

#[test]
fn byte_level_decodes_any_ids() {
    let mut t = byte_level();
    t.add_special_tokens(&["_start_"]);
    let n = t.vocab_size() as u32;
    let text = t.decode(&[0, n - 1, n, n + 1, u32::MAX, 188]);
    assert_eq!(text, "!<|endoftext|>_start_\u{FFFD}\u{FFFD}\u{0}");
    // 188 is byte 0 (the first shifted), 255 byte 0xAD (the last).
    assert_eq!(t.decode_bytes(&[188, 255]), [0, 0xAD]);
}
