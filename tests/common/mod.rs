//! What several integration tests share: a synthetic pre-training corpus written straight into
//! shards (no ../shared, no tokenizer needed) and scratch directories.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

use genpt::data::corpus::{CorpusMeta, SplitMeta, META_FILE};
use genpt::data::sampler::Draws;
use genpt::data::shards::ShardWriter;

/// The corpus's vocabulary size.
pub const VOCAB: usize = 48;

/// A fresh, empty directory for one test: `genpt-PREFIX-PID-NAME` under the temp directory.
pub fn scratch(prefix: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("genpt-{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Documents where each token is usually the previous one plus one (a noisy counting pattern
/// over 48 ids): learnable, not trivial. 8 training and 2 validation documents of 300 tokens,
/// fingerprint 0xabc.
pub fn write_corpus(dir: &Path) {
    let mut draws = Draws::new(5, 0);
    let mut split = |name: &str, documents: usize| {
        let mut w = ShardWriter::create(&dir.join(name), VOCAB, 0xabc).unwrap();
        for _ in 0..documents {
            let mut id = draws.below(VOCAB as u64) as u32;
            let doc: Vec<u32> = (0..300)
                .map(|_| {
                    id = if draws.below(10) == 0 {
                        draws.below(VOCAB as u64) as u32
                    } else {
                        (id + 1) % VOCAB as u32
                    };
                    id
                })
                .collect();
            w.push_document(&doc).unwrap();
        }
        let h = w.finish().unwrap();
        SplitMeta {
            shards: vec![name.into()],
            documents: (0..documents).map(|i| format!("doc{i}")).collect(),
            tokens: h.tokens,
        }
    };
    let meta = CorpusMeta {
        format: "genpt-corpus-1".into(),
        vocab_size: VOCAB,
        fingerprint: 0xabc,
        train: split("train.tok", 8),
        validation: split("val.tok", 2),
    };
    std::fs::write(dir.join(META_FILE), serde_json::to_string(&meta).unwrap()).unwrap();
}
