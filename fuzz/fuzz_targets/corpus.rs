//! A prepared corpus: `meta.json` and a shard (header and body) from arbitrary bytes, opened as
//! `genpt pretrain` opens them (checked, and unchecked with every sampled window checked),
//! then windows drawn. Errors (naming the shard and offset) are fine; panics, aborts and
//! unbounded allocations are not, and no id at or above the vocabulary may come out.
//!
//! Input layout: byte 0 = flags (bit 0: verify on open; bit 1: a generated meta.json naming
//! the shard, with the vocabulary size in bytes 1–2, instead of the input's own), bytes 1–2 =
//! length of meta.json (little-endian, clamped), then meta.json, then the shard.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use genpt::data::corpus::{CorpusMeta, Split, META_FILE};
use genpt::data::sampler::WindowSampler;
use genpt::rng::Draws;
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| std::env::temp_dir().join(format!("genpt-fuzz-corpus-{}", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let verify = data[0] & 1 != 0;
    let number = u16::from_le_bytes([data[1], data[2]]) as usize;
    let rest = &data[3..];
    let (meta, shard) = if data[0] & 2 != 0 {
        let meta = serde_json::json!({
            "format": "genpt-corpus-1", "vocab_size": number.max(1), "fingerprint": 0,
            "train": {"shards": ["train.tok"], "documents": ["d"], "tokens": 0},
            "validation": {"shards": ["train.tok"], "documents": ["d"], "tokens": 0},
        });
        (meta.to_string().into_bytes(), rest)
    } else {
        let (m, s) = rest.split_at(number.min(rest.len()));
        (m.to_vec(), s)
    };
    let dir = scratch();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(META_FILE), &meta).unwrap();
    std::fs::write(dir.join("train.tok"), shard).unwrap();
    let Ok(meta) = CorpusMeta::read(dir) else { return };
    for window in [2, 17] {
        let Ok(shards) = meta.open(dir, Split::Train, verify) else { return };
        let Ok(sampler) = WindowSampler::new(shards, window) else { continue };
        let mut draws = Draws::new(1, 0);
        for batch in [1, 3] {
            if let Ok(ids) = sampler.sample(batch, &mut draws) {
                assert_eq!(ids.len(), batch * window);
                assert!(ids.iter().all(|&id| id >= 0 && (id as usize) < meta.vocab_size));
            }
        }
        if let Ok(windows) = sampler.sequential(4) {
            for w in windows {
                assert!(w.iter().all(|&id| id >= 0 && (id as usize) < meta.vocab_size));
            }
        }
    }
});
