//! What several integration tests share: a synthetic pre-training corpus written straight into
//! shards (no ../shared, no tokenizer needed) and scratch directories.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};

use genpt::data::corpus::{CorpusMeta, SplitMeta, META_FILE};
use genpt::data::shards::ShardWriter;
use genpt::pretrain::{checkpoint, RunConfig};
use genpt::rng::Draws;

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
            // As if each token stood for 3 bytes of text: validation reports bits per byte.
            bytes: Some(3 * h.tokens),
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

/// A short run of a 2-layer, 32-wide model of `preset`'s family on the corpus in `data`: 8
/// updates of 2 × 3 windows of 16 tokens, validation every 4, a checkpoint every 2; `overrides`
/// as `--set` takes them.
pub fn run_config(data: &Path, out: &Path, preset: &str, overrides: &[String]) -> RunConfig {
    let text = format!(
        r#"
        out_dir = "{}"
        [model]
        preset = "{preset}"
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
    RunConfig::parse(&text, overrides).unwrap()
}

/// The weights of the newest checkpoint under `out`.
pub fn final_weights(out: &Path) -> genpt::weights::NamedTensors {
    let last = checkpoint::list(&out.join("checkpoints"))
        .pop()
        .expect("a checkpoint");
    genpt::weights::hf::read_safetensors(&last.join("model.safetensors")).unwrap()
}

/// A BPE vocabulary trained on sentences of `words` (under `root/bpe`), and a tiny random GPT-1
/// (1 layer, 32 wide) of its size (`root/lm`): for tests that fine-tune from files.
pub fn tokenizer_and_model(root: &Path, words: &[&str]) -> (PathBuf, PathBuf) {
    let n = words.len();
    let text = (0..40)
        .map(|i| {
            format!(
                "the {} {} {}.",
                words[i % n],
                words[(i * 3) % n],
                words[(i * 5) % n]
            )
        })
        .collect::<Vec<_>>();
    let counts =
        genpt_tokenizer::train::count_words(text.iter().map(String::as_str).collect::<Vec<_>>());
    let (encoder, merges) = genpt_tokenizer::train_bpe(&counts, 60, &|_| {});
    let tokenizer = root.join("bpe");
    genpt_tokenizer::vocab::save(&tokenizer, &encoder, &merges).unwrap();
    let mut config = genpt::GptConfig::preset("tiny").unwrap();
    (
        config.vocab_size,
        config.n_layer,
        config.n_embd,
        config.n_head,
        config.n_positions,
    ) = (encoder.len(), 1, 32, 2, 32);
    let model = root.join("lm");
    let device = genpt::device::device("flex").unwrap();
    device.seed(7);
    genpt::weights::hf::save(&genpt::Gpt::new(&config, &device), &model).unwrap();
    (tokenizer, model)
}

/// A classification task with a known answer: label 1 when token 7 occurs in the text. Texts of
/// 3 to 10 tokens from 8..28, framed by the special rows that follow a vocabulary of `vocab`
/// tokens (start `vocab`, classify `vocab + 2`).
pub fn contains_seven(n: usize, seed: u64, vocab: usize) -> Vec<genpt::finetune::EncodedExample> {
    use genpt::finetune::{EncodedExample, Target};
    let (start, classify) = (vocab as u32, vocab as u32 + 2);
    let mut d = Draws::new(seed, 0);
    (0..n)
        .map(|i| {
            let len = 3 + d.below(8) as usize;
            let mut text: Vec<u32> = (0..len).map(|_| 8 + d.below(20) as u32).collect();
            let label = i % 2;
            if label == 1 {
                text[d.below(len as u64) as usize] = 7;
            }
            let mut seq = vec![start];
            seq.extend(&text);
            seq.push(classify);
            EncodedExample {
                classify_at: vec![seq.len() - 1],
                sequences: vec![seq],
                target: Some(Target::Class(label)),
            }
        })
        .collect()
}

/// The backends the parity tests check: this build's CPU backends, plus the GPU backends named
/// in `GENPT_TEST_BACKENDS` (comma-separated, e.g. `wgpu:cpu`), since a GPU may be built in but
/// absent.
pub fn test_backends() -> Vec<(String, burn::tensor::Device)> {
    let gpus = std::env::var("GENPT_TEST_BACKENDS").unwrap_or_default();
    genpt::device::compiled()
        .into_iter()
        .filter(|b| !genpt::device::is_gpu(b))
        .map(str::to_string)
        .chain(
            gpus.split(',')
                .filter(|b| !b.is_empty())
                .map(str::to_string),
        )
        .map(|b| {
            let device = genpt::device::device(&b).unwrap_or_else(|e| panic!("{e}"));
            (b, device)
        })
        .collect()
}
