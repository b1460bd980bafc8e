//! Loading vocabulary files: arbitrary bytes are cut into an encoder file and a merges file,
//! written under the release's names (`encoder_bpe_40000.json`, `vocab_40000.bpe`) or Hugging
//! Face's (`vocab.json`, `merges.txt`), and loaded with `Tokenizer::from_dir`. Errors are fine;
//! panics, aborts and unbounded allocations are not. What loads must encode and decode, and
//! must survive `vocab::save` → `vocab::load` unchanged.
//!
//! Input layout: byte 0 = flags (bit 0: Hugging Face names), bytes 1–2 = length of the encoder
//! file (little-endian, clamped), then the encoder file, then the merges file.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use genpt_tokenizer::{vocab, Tokenizer};
use libfuzzer_sys::fuzz_target;

/// Two scratch directories of this process (one to load from, one to save into).
fn dirs() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        let base =
            std::env::temp_dir().join(format!("genpt-fuzz-load-vocab-{}", std::process::id()));
        let (a, b) = (base.join("in"), base.join("out"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        (a, b)
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let hf = data[0] & 1 == 1;
    let rest = &data[3..];
    let split = (u16::from_le_bytes([data[1], data[2]]) as usize).min(rest.len());
    let (encoder_bytes, merges_bytes) = rest.split_at(split);

    let (dir, out) = dirs();
    let (encoder_name, merges_name) = if hf {
        (vocab::HF_ENCODER, vocab::HF_MERGES)
    } else {
        (vocab::ORIGINAL_ENCODER, vocab::ORIGINAL_MERGES)
    };
    // Only one layout in the directory at a time, and none left over in `out` (`save` writes
    // GPT-1's or GPT-2's release names by kind).
    for name in [
        vocab::ORIGINAL_ENCODER,
        vocab::ORIGINAL_MERGES,
        vocab::GPT2_ENCODER,
        vocab::GPT2_MERGES,
        vocab::HF_ENCODER,
        vocab::HF_MERGES,
    ] {
        let _ = std::fs::remove_file(dir.join(name));
        let _ = std::fs::remove_file(out.join(name));
    }
    std::fs::write(dir.join(encoder_name), encoder_bytes).unwrap();
    std::fs::write(dir.join(merges_name), merges_bytes).unwrap();

    // The parsers on text directly (what the loader does after reading).
    if let (Ok(e), Ok(m)) = (
        std::str::from_utf8(encoder_bytes),
        std::str::from_utf8(merges_bytes),
    ) {
        let _ = vocab::parse_encoder(e, &dir.join(encoder_name));
        let _ = vocab::parse_merges(m, &dir.join(merges_name));
    }

    let Ok(loaded) = vocab::load(dir) else { return };
    let Ok(mut tokenizer) = Tokenizer::from_dir(dir) else {
        return;
    };
    assert_eq!(
        tokenizer.vocab_size(),
        loaded.encoder.len(),
        "ids are 0..n, each once"
    );

    let ids = tokenizer.encode("The cat sat on the mat. Don't stop -- naïve café!\nNew line");
    assert!(ids.iter().all(|&id| (id as usize) < tokenizer.vocab_size()));
    let _ = tokenizer.decode(&ids);
    let specials = tokenizer.add_special_tokens(&["_start_", "_classify_"]);
    let _ = tokenizer.decode(&specials);

    vocab::save(out, &loaded.encoder, &loaded.merges).unwrap();
    let again = vocab::load(out).expect("what was saved loads");
    assert_eq!(
        again.encoder, loaded.encoder,
        "encoder changed in save → load"
    );
    assert_eq!(again.merges, loaded.merges, "merges changed in save → load");
});
