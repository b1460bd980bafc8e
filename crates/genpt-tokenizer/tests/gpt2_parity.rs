//! GPT-2 byte-level parity with transformers' `GPT2Tokenizer` (and OpenAI's encoder.py, which
//! agreed with it on every line when the fixture was made), on the reference file
//! tests/fixtures/gpt2_reference.jsonl written by scripts/make_gpt2_fixture.py. The
//! vocabularies come from ../shared (GPT-2's, and the tiny random one of its fixtures).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use genpt_tokenizer::gpt2::bpe::Bpe;
use genpt_tokenizer::gpt2::pretokenize::{class, Class};
use genpt_tokenizer::{vocab, Tokenizer, TokenizerKind};
use serde_json::Value;

fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("GENPT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.is_dir().then_some(dir)
}

fn fixture() -> (Value, Vec<Value>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2_reference.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().map(|l| serde_json::from_str(l).unwrap());
    let header = lines.next().unwrap();
    (header, lines.collect())
}

fn ids(value: &Value) -> Vec<u32> {
    serde_json::from_value(value.clone()).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The pre-tokenizer's classes against Python `regex`'s, on every code point. They may only
/// differ on code points our Unicode tables (regex-syntax's) have as unassigned: Python
/// `regex` 2026 knows a newer Unicode (and transformers' tokenizers, through Oniguruma, an
/// older one), so on characters assigned since, no two references agree either.
#[test]
fn character_classes_match_python_regex() {
    let (header, _) = fixture();
    let mut want = vec![Class::Other; 0x11_0000];
    for (key, k) in [
        ("L", Class::Letter),
        ("N", Class::Number),
        ("s", Class::Space),
    ] {
        for range in header["classes"][key].as_array().unwrap() {
            let (a, b) = (range[0].as_u64().unwrap(), range[1].as_u64().unwrap());
            want[a as usize..=b as usize].fill(k);
        }
    }
    use regex_syntax::hir::{Class as HirClass, HirKind};
    let HirKind::Class(HirClass::Unicode(unassigned)) =
        regex_syntax::parse(r"\p{Cn}").unwrap().into_kind()
    else {
        unreachable!("a Unicode class")
    };
    let is_unassigned = |c: char| {
        unassigned
            .ranges()
            .iter()
            .any(|r| r.start() <= c && c <= r.end())
    };
    let (mut newer, mut differ) = (0, Vec::new());
    for (c, ch) in (0..0x11_0000u32).filter_map(|c| char::from_u32(c).map(|ch| (c, ch))) {
        if class(ch) != want[c as usize] {
            if is_unassigned(ch) {
                newer += 1;
            } else {
                differ.push(format!(
                    "U+{c:04X} ours {:?} python {:?}",
                    class(ch),
                    want[c as usize]
                ));
            }
        }
    }
    println!(
        "{} assigned code points differ; {newer} more are unassigned in our Unicode tables",
        differ.len()
    );
    for d in differ.iter().take(20) {
        println!("  {d}");
    }
    assert!(differ.is_empty(), "{} code points differ", differ.len());
}

fn check_encodings(tokenizer: &Tokenizer, records: &[&Value], round_trip: bool) {
    let (mut exact, mut exact_special, mut specials, mut trips) = (0, 0, 0, 0);
    let mut shown = 0;
    for r in records {
        let text = r["text"].as_str().unwrap();
        let want = ids(&r["ids"]);
        let got = tokenizer.encode(text);
        if got == want {
            exact += 1;
        } else if shown < 5 {
            shown += 1;
            let at = got.iter().zip(&want).position(|(a, b)| a != b);
            let at = at.unwrap_or(got.len().min(want.len()));
            println!(
                "MISMATCH at token {at} of {:?}\n  ours:      {:?}\n  reference: {:?}",
                text.chars().take(80).collect::<String>(),
                &got[at.saturating_sub(2)..(at + 4).min(got.len())],
                &want[at.saturating_sub(2)..(at + 4).min(want.len())]
            );
        }
        if let Some(special) = r.get("ids_special") {
            specials += 1;
            if tokenizer.encode_with_special_tokens(text) == ids(special) {
                exact_special += 1;
            }
        }
        if round_trip
            && tokenizer.decode(&want) == text
            && tokenizer.decode_bytes(&want) == text.as_bytes()
        {
            trips += 1;
        }
    }
    let n = records.len();
    println!("{exact} of {n} texts exact, {exact_special} of {specials} with special tokens, {trips} round trips");
    assert_eq!(exact, n, "ids differ");
    assert_eq!(exact_special, specials, "ids with special tokens differ");
    if round_trip {
        assert_eq!(trips, n, "decode(encode(text)) != text");
    }
    let texts: Vec<&str> = records
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    let batch = tokenizer.encode_batch(&texts);
    assert!(batch
        .iter()
        .zip(records)
        .all(|(got, r)| *got == ids(&r["ids"])));
}

#[test]
fn gpt2_ids_and_round_trips_match() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let (_, records) = fixture();
    let tokenizer = Tokenizer::from_dir(&shared.join("data/gpt2-bpe")).unwrap();
    let texts: Vec<&Value> = records
        .iter()
        .filter(|r| r["vocab"] == "gpt2" && r.get("ids").is_some())
        .collect();
    let lines: usize = texts
        .iter()
        .map(|r| r["text"].as_str().unwrap().lines().count())
        .sum();
    println!("{} texts, {lines} lines", texts.len());
    check_encodings(&tokenizer, &texts, true);
}

#[test]
fn tiny_random_gpt2_ids_match() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let (_, records) = fixture();
    let tokenizer = Tokenizer::from_dir(&shared.join("fixtures/tiny-random-gpt2")).unwrap();
    assert_eq!(tokenizer.kind(), TokenizerKind::Gpt2ByteLevel);
    assert_eq!(tokenizer.eot_id(), Some(0));
    let texts: Vec<&Value> = records.iter().filter(|r| r["vocab"] == "tiny").collect();
    // No round trip: the tiny vocabulary lacks 63 bytes, which GPT2Tokenizer drops.
    check_encodings(&tokenizer, &texts, false);
}

/// Decoding random ids: cut characters and invalid UTF-8 give back the exact bytes from
/// `decode_bytes`, and U+FFFD per bad sequence from `decode`, as `GPT2Tokenizer.decode`.
#[test]
fn gpt2_decodes_match() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let (_, records) = fixture();
    let tokenizer = Tokenizer::from_dir(&shared.join("data/gpt2-bpe")).unwrap();
    let (mut n, mut bytes_ok, mut text_ok, mut invalid) = (0, 0, 0, 0);
    for r in records.iter().filter(|r| r.get("decode").is_some()) {
        let ids = ids(&r["decode"]);
        let want = hex(r["bytes_hex"].as_str().unwrap());
        n += 1;
        invalid += usize::from(std::str::from_utf8(&want).is_err());
        bytes_ok += usize::from(tokenizer.decode_bytes(&ids) == want);
        text_ok += usize::from(tokenizer.decode(&ids) == r["text"].as_str().unwrap());
    }
    println!(
        "{n} decodings ({invalid} of invalid UTF-8): {bytes_ok} bytes exact, {text_ok} texts exact"
    );
    assert!(invalid > 50, "the fixture should exercise invalid UTF-8");
    assert_eq!((bytes_ok, text_ok), (n, n));
}

#[test]
fn kinds_fingerprints_and_specials() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let mut gpt2 = Tokenizer::from_dir(&shared.join("data/gpt2-bpe")).unwrap();
    let gpt1 = Tokenizer::from_dir(&shared.join("data/gpt1-bpe")).unwrap();
    assert_eq!(gpt2.kind(), TokenizerKind::Gpt2ByteLevel);
    assert_eq!(gpt1.kind(), TokenizerKind::Gpt1);
    assert_eq!(gpt2.vocab_size(), 50257);
    assert_eq!(gpt2.eot_id(), Some(50256));
    assert_eq!(gpt1.eot_id(), None);
    assert_ne!(gpt1.fingerprint(), gpt2.fingerprint());
    // Pieces are GPT2Tokenizer.tokenize's (its vocabulary: "Hello" 15496, "Ġworld" 995).
    assert_eq!(gpt2.pieces("Hello world"), ["Hello", "Ġworld"]);
    assert_eq!(gpt2.encode("Hello world"), [15496, 995]);
    assert_eq!(gpt2.piece(995), Some("Ġworld"));
    // Added specials come after the vocabulary and decode to their names.
    let added = gpt2.add_special_tokens(&["<|pad|>"]);
    assert_eq!(added, [50257]);
    assert_eq!(gpt2.encode_with_special_tokens("a<|pad|>"), [64, 50257]);
    assert_eq!(gpt2.decode(&[64, 50257, 50256]), "a<|pad|><|endoftext|>");
    assert_eq!(gpt2.piece(50257), Some("<|pad|>"));
    // Past everything: U+FFFD, never a panic.
    assert_eq!(gpt2.decode(&[99_999]), "\u{FFFD}");
}

/// The heap (long words) and encoder.py's loop agree with GPT-2's merges on long random words.
#[test]
fn heap_and_loop_agree_on_gpt2_merges() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let v = vocab::load(&shared.join("data/gpt2-bpe")).unwrap();
    let mut pieces = vec![String::new(); v.encoder.len()];
    for (p, &i) in &v.encoder {
        pieces[i as usize] = p.clone();
    }
    let bpe = Bpe::new(&pieces, &v.merges);
    assert!(bpe.uses_heap(), "GPT-2's merges are in training order");
    let by_char: HashMap<char, u32> = genpt_tokenizer::gpt2::bytes::byte_to_char()
        .iter()
        .map(|&c| (c, v.encoder[&c.to_string()]))
        .collect();
    let mut seed = 12345u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let alphabets = [
        "abcdefghijklmnopqrstuvwxyz",
        "aab",
        "ĠĠĠa",
        "0123456789",
        "thequickbrown",
    ];
    for round in 0..200 {
        let alphabet: Vec<char> = alphabets[round % alphabets.len()].chars().collect();
        let len = 1 + next() % 400;
        let word: Vec<u32> = (0..len)
            .map(|_| by_char[&alphabet[next() % alphabet.len()]])
            .collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        bpe.merge_loop(word.clone(), &mut a);
        bpe.merge_heap(word, &mut b);
        assert_eq!(a, b, "round {round}");
    }
}

/// Loading: the kind comes from the pieces; ambiguous directories and files are errors that
/// name the file.
#[test]
fn detection_rules() {
    let base = std::env::temp_dir().join(format!("genpt-gpt2-detect-{}", std::process::id()));
    let write = |dir: &str, files: &[(&str, &str)]| -> PathBuf {
        let d = base.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        for (name, text) in files {
            std::fs::write(d.join(name), text).unwrap();
        }
        d
    };
    let gpt2_vocab = r#"{"<|endoftext|>": 0, "a": 1, "Ġ": 2, "Ġa": 3}"#;
    let gpt1_vocab = r#"{"<unk>": 0, "a": 1, "a</w>": 2}"#;
    let gpt2 = write(
        "gpt2",
        &[
            ("vocab.json", gpt2_vocab),
            ("merges.txt", "#version: 0.2\nĠ a\n"),
        ],
    );
    let t = Tokenizer::from_dir(&gpt2).unwrap();
    assert_eq!(t.kind(), TokenizerKind::Gpt2ByteLevel);
    assert_eq!(t.encode(" a a"), [3, 3]);
    let gpt1 = write(
        "gpt1",
        &[
            ("vocab.json", gpt1_vocab),
            ("merges.txt", "#version: 0.2\n"),
        ],
    );
    assert_eq!(
        Tokenizer::from_dir(&gpt1).unwrap().kind(),
        TokenizerKind::Gpt1
    );

    let err = |dir: &Path| {
        Tokenizer::from_dir(dir)
            .err()
            .expect("an error")
            .to_string()
    };
    let both = write(
        "both",
        &[
            ("vocab.json", gpt2_vocab),
            ("merges.txt", "#version: 0.2\nĠ a\n"),
            ("encoder_bpe_40000.json", gpt1_vocab),
            ("vocab_40000.bpe", "#version: 0.2\n"),
        ],
    );
    let e = err(&both);
    assert!(
        e.contains("ambiguous directory") && e.contains("Gpt1 vs Gpt2ByteLevel"),
        "{e}"
    );
    let mixed = write(
        "mixed",
        &[
            ("encoder.json", r#"{"a</w>": 0, "Ġa": 1}"#),
            ("vocab.bpe", ""),
        ],
    );
    let e = err(&mixed);
    assert!(
        e.contains("encoder.json") && e.contains("ambiguous vocabulary"),
        "{e}"
    );
    let none = write(
        "none",
        &[
            ("vocab.json", r#"{"a": 0, "b": 1}"#),
            ("merges.txt", "a b\n"),
        ],
    );
    assert!(
        err(&none).contains("cannot tell the kind"),
        "{}",
        err(&none)
    );
    let bad_piece = write(
        "bad-piece",
        &[("vocab.json", r#"{"Ġ": 0, "a b": 1}"#), ("merges.txt", "")],
    );
    assert!(
        err(&bad_piece).contains("stands for no byte"),
        "{}",
        err(&bad_piece)
    );
    let bad_merge = write(
        "bad-merge",
        &[
            ("vocab.json", r#"{"Ġ": 0, "a": 1}"#),
            ("merges.txt", "#version: 0.2\nĠ a\na ☃\n"),
        ],
    );
    let e = err(&bad_merge);
    assert!(
        e.contains("merges.txt:3") && e.contains("stands for no byte"),
        "{e}"
    );
    std::fs::remove_dir_all(&base).unwrap();
}
