//! GPT-2 pre-trains through the same loop as GPT-1: from a `gpt2-*` preset the loss falls,
//! checkpoints are `gpt2` checkpoints, and resuming is bit-exact.
//!
//! The corpus is synthetic, so this test needs neither ../shared nor a tokenizer. It has a test
//! binary to itself: the dropout masks and the device seed are process-wide, and another test
//! training in parallel would change the masks between the straight and the resumed run.

use std::path::{Path, PathBuf};

use genpt::config::Arch;
use genpt::data::corpus::{CorpusMeta, SplitMeta, META_FILE};
use genpt::data::sampler::Draws;
use genpt::data::shards::ShardWriter;
use genpt::pretrain::{checkpoint, pretrain, RunConfig};

const VOCAB: usize = 48;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("genpt-gpt2-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Documents where each token is usually the previous one plus one: learnable, not trivial
/// (the corpus of `tests/pretrain_resume.rs`).
fn write_corpus(dir: &Path) {
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

fn config(data: &Path, out: &Path) -> RunConfig {
    let text = format!(
        r#"
        out_dir = "{}"
        [model]
        preset = "gpt2-tiny"
        n_layer = 2
        n_embd = 32
        n_head = 2
        n_positions = 16
        [data]
        dir = "{}"
        [train]
        batch_size = 3
        grad_accum = 2
        steps = 8
        warmup_steps = 2
        eval_every = 4
        eval_windows = 4
        seed = 17
        [optimizer]
        lr = 3e-3
        [checkpoint]
        every = 2
        keep_last = 2
        "#,
        out.display(),
        data.display()
    );
    RunConfig::parse(&text, &[]).unwrap()
}

fn final_weights(out: &Path) -> genpt::weights::NamedTensors {
    let last = checkpoint::list(&out.join("checkpoints"))
        .pop()
        .expect("a checkpoint");
    genpt::weights::hf::read_safetensors(&last.join("model.safetensors")).unwrap()
}

#[test]
fn pretraining_a_gpt2_preset_lowers_the_loss_and_resumes_exactly() {
    let data = scratch("data");
    write_corpus(&data);

    let straight = scratch("straight");
    let outcome = pretrain(&config(&data, &straight), false, None).unwrap();
    assert_eq!(outcome.steps, 8);
    let log = std::fs::read_to_string(straight.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    let first_loss = first["loss"].as_f64().unwrap();
    println!(
        "gpt2-tiny: loss {first_loss:.4} -> {:.4}",
        outcome.final_loss
    );
    assert!(
        outcome.final_loss < first_loss,
        "the loss fell: {first_loss} -> {}",
        outcome.final_loss
    );

    // The checkpoint is a GPT-2 checkpoint, in transformers' names.
    let weights = final_weights(&straight);
    assert!(weights.contains_key("wte.weight") && weights.contains_key("ln_f.weight"));
    let device = genpt::device::device("flex").unwrap();
    let last = checkpoint::list(&straight.join("checkpoints"))
        .pop()
        .unwrap();
    let loaded = checkpoint::load(&last, &device).unwrap();
    assert_eq!(loaded.model.config().arch, Arch::Gpt2);

    // 3 updates, stop, resume for the other 5: the same weights as the uninterrupted run.
    let split = scratch("split");
    pretrain(&config(&data, &split), false, Some(3)).unwrap();
    pretrain(&config(&data, &split), true, None).unwrap();
    assert!(
        weights == final_weights(&split),
        "resumed weights differ from the uninterrupted run"
    );
}
