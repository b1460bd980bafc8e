//! A vocabulary trained on real or hostile text must load again with `Tokenizer::from_dir` and
//! tokenize as it did before saving (the README's `genpt tokenizer train` flow once wrote a merge
//! holding a newline, which its own loader rejected).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use genpt_tokenizer::{train, vocab, Tokenizer};

fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("GENPT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.is_dir().then_some(dir)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("genpt-vocab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Trains, saves, loads, and checks the loaded tokenizer against the one in memory.
fn round_trip(name: &str, texts: &[&str], n_merges: usize) -> (Tokenizer, PathBuf) {
    let counts = train::count_words(texts.to_vec());
    let (encoder, merges) = genpt_tokenizer::train_bpe(&counts, n_merges, &|_| {});
    let dir = temp_dir(name);
    vocab::save(&dir, &encoder, &merges).expect("a trained vocabulary saves");
    let n = merges.len();
    for file in [
        format!("encoder_bpe_{n}.json"),
        format!("vocab_{n}.bpe"),
        "vocab.json".into(),
        "merges.txt".into(),
    ] {
        assert!(
            dir.join(&file).exists(),
            "{name}: {file} written (named by the real merge count)"
        );
    }
    let loaded = Tokenizer::from_dir(&dir)
        .unwrap_or_else(|e| panic!("{name}: saved vocabulary does not load: {e}"));
    let reread = vocab::load(&dir).unwrap();
    assert_eq!(reread.merges, merges, "{name}: merges read back as written");
    assert_eq!(
        reread.encoder, encoder,
        "{name}: encoder read back as written"
    );
    let memory = Tokenizer::new(encoder, merges);
    for text in texts.iter().take(50) {
        let ids = loaded.encode(text);
        assert_eq!(ids, memory.encode(text), "{name}: {text:?}");
        // Every character seen in training has an entry: nothing becomes <unk> (id 0).
        assert!(
            !ids.contains(&0),
            "{name}: <unk> in {text:?}: {:?}",
            loaded.pieces(text)
        );
    }
    (loaded, dir)
}

/// Text with every kind of character a merges file could choke on.
fn hostile_texts() -> Vec<String> {
    let spaces = [
        '\t', '\u{0b}', '\u{0c}', '\r', '\u{1c}', '\u{1d}', '\u{1e}', '\u{1f}', '\u{85}', '\u{a0}',
        '\u{1680}', '\u{2000}', '\u{2007}', '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}',
        '\u{205f}', '\u{3000}',
    ];
    let mut texts = Vec::new();
    for (i, s) in spaces.iter().enumerate() {
        // The same odd space inside words, between them, doubled and at line ends, often enough
        // that a pair containing it would be the most frequent one.
        let line = format!("alpha{s}beta gamma{s}{s}delta\nepsilon{s}\n{s}zeta{s}eta theta{i}");
        for _ in 0..20 {
            texts.push(line.clone());
        }
    }
    for _ in 0..20 {
        texts.push(
            "tab\tseparated\tcolumns\nand\r\nwindows\r\nlines  with   runs    of spaces".into(),
        );
        texts.push("controls \u{1}\u{2}\u{7f} bell\u{7} nul-free, emoji 😀😀 👍🏽 and combining e\u{301}e\u{301}".into());
        texts.push("zero\u{200b}width\u{200d}joiner\u{feff}bom soft\u{ad}hyphen".into());
    }
    texts
}

#[test]
fn hostile_text_trains_saves_and_loads() {
    let texts = hostile_texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (tokenizer, dir) = round_trip("hostile", &refs, 300);
    // No merge holds a separator, and the newline piece of the release layout is present.
    let merges = vocab::load(&dir).unwrap().merges;
    assert!(
        merges.len() > 20,
        "training went on past the odd characters: {} merges",
        merges.len()
    );
    assert!(
        merges
            .iter()
            .all(|(a, b)| !a.contains(vocab::is_merge_separator)
                && !b.contains(vocab::is_merge_separator)),
        "a merge holds whitespace"
    );
    assert!(tokenizer.token_id("\n</w>").is_some());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn raw_books_train_save_and_load() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let books: Vec<String> = ["book001.txt", "book002.txt"]
        .iter()
        .map(|b| {
            let bytes = std::fs::read(shared.join("data/books").join(b)).unwrap();
            genpt_tokenizer::decode_utf8_lossy_counted(&bytes).0
        })
        .collect();
    // As `genpt tokenizer train` does: paragraphs of the raw files, Gutenberg header included.
    let paragraphs: Vec<&str> = books.iter().flat_map(|t| t.split("\n\n")).collect();
    let (tokenizer, dir) = round_trip("books", &paragraphs, 2000);
    let ids = tokenizer.encode("It was the best of times,\nit was the worst of times.");
    assert!(
        ids.len() >= 10 && !ids.contains(&0),
        "{:?}",
        tokenizer.pieces("It was the best of times")
    );
    // Two release-named vocabularies of different merge counts in one directory are ambiguous.
    let merges = std::fs::read_to_string(dir.join("merges.txt")).unwrap();
    std::fs::copy(dir.join("vocab.json"), dir.join("encoder_bpe_40000.json")).unwrap();
    std::fs::write(
        dir.join("vocab_40000.bpe"),
        &merges[..merges.trim_end().rfind('\n').unwrap() + 1],
    )
    .unwrap();
    let err = Tokenizer::from_dir(&dir)
        .err()
        .expect("two vocabularies are ambiguous")
        .to_string();
    assert!(err.contains("ambiguous"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_release_vocabulary_still_loads_by_its_names() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let dir = shared.join("data/gpt1-bpe");
    let (encoder, merges) = vocab::find_files(&dir).unwrap();
    assert_eq!(encoder.file_name().unwrap(), "encoder_bpe_40000.json");
    assert_eq!(merges.file_name().unwrap(), "vocab_40000.bpe");
    assert_eq!(Tokenizer::from_dir(&dir).unwrap().vocab_size(), 40_478);
}

#[test]
fn a_merge_the_format_cannot_hold_is_an_error_not_a_broken_file() {
    let encoder: HashMap<String, u32> = [("<unk>", 0), ("a", 1), ("\n", 2)]
        .iter()
        .map(|(p, i)| (p.to_string(), *i))
        .collect();
    let dir = temp_dir("bad");
    let err = vocab::save(&dir, &encoder, &[("a".into(), "\n".into())])
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be written"), "{err}");
    assert!(!Path::new(&dir).join("merges.txt").exists());
}
