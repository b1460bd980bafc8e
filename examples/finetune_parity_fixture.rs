//! Writes the fine-tuning parity fixture, `tests/fixtures/finetune_parity/<case>/`: for one task
//! of each kind, a small classifier (random weights with non-trivial gains and biases, special
//! rows and head appended by genpt) and the trace of its first 10 updates with dropout off, as
//! `genpt::finetune::trace` writes it. `scripts/finetune_parity.py replay` then adds what PyTorch
//! computes (`torch.json`), which `tests/finetune_parity.rs` compares genpt against.
//!
//!     cargo run --release --example finetune_parity_fixture -- tests/fixtures/finetune_parity
//!     python3 scripts/finetune_parity.py replay tests/fixtures/finetune_parity/*/

use std::path::{Path, PathBuf};

use genpt::finetune::classifier::new_classifier;
use genpt::finetune::task_bridge::{encode_example, head_shape};
use genpt::finetune::{self as ft, FinetuneConfig};
use genpt::rng::Draws;
use genpt::surgery::{add_special_rows, normal_values, with_dropout};
use genpt::weights;
use genpt::{Gpt, GptConfig};
use genpt_tasks::{Example, Input, Label, SpecialIds, TaskKind};

const VOCAB: usize = 40;

/// Lower-case letters, each its own token (ids 10..36): real task transformations, a toy
/// vocabulary.
fn tokenize(text: &str) -> Vec<u32> {
    text.bytes()
        .filter(u8::is_ascii_lowercase)
        .map(|b| (b - b'a') as u32 + 10)
        .collect()
}

fn word(d: &mut Draws) -> String {
    let len = 2 + d.below(7) as usize;
    (0..len)
        .map(|_| char::from(b'a' + d.below(26) as u8))
        .collect()
}

/// The cases: name, kind, and an input generator.
fn cases() -> Vec<(&'static str, TaskKind)> {
    vec![
        ("classification", TaskKind::Classification { n_classes: 2 }),
        ("entailment", TaskKind::Entailment { n_classes: 3 }),
        ("similarity", TaskKind::Similarity { regression: false }),
        ("regression", TaskKind::Similarity { regression: true }),
        ("choice", TaskKind::MultipleChoice { n_choices: 3 }),
    ]
}

fn example(i: usize, kind: &TaskKind, d: &mut Draws) -> Example {
    let (input, label) = match kind {
        TaskKind::Classification { n_classes } => (
            Input::Single(word(d)),
            Label::Class(d.below(*n_classes as u64) as usize),
        ),
        TaskKind::Entailment { n_classes } => (
            Input::Pair(word(d), word(d)),
            Label::Class(d.below(*n_classes as u64) as usize),
        ),
        TaskKind::Similarity { regression: false } => (
            Input::Pair(word(d), word(d)),
            Label::Class(d.below(2) as usize),
        ),
        TaskKind::Similarity { regression: true } => (
            Input::Pair(word(d), word(d)),
            Label::Score(d.below(51) as f32 / 10.0),
        ),
        TaskKind::MultipleChoice { n_choices } => (
            Input::Choices {
                context: word(d),
                question: String::new(),
                choices: (0..*n_choices).map(|_| word(d)).collect(),
            },
            Label::Class(d.below(*n_choices as u64) as usize),
        ),
    };
    Example {
        id: i.to_string(),
        input,
        label: Some(label),
    }
}

/// Gains N(1, 0.2), biases N(0, 0.1), weights N(0, 0.15): a mistake in any tensor shows.
fn perturbed(gpt: Gpt, d: &mut Draws, device: &burn::tensor::Device) -> Gpt {
    let mut tensors = weights::export(&gpt);
    for (name, t) in tensors.iter_mut() {
        let (mean, std) = if name.contains(".ln_") && name.ends_with("weight") {
            (1.0, 0.2)
        } else if name.ends_with("bias") {
            (0.0, 0.1)
        } else {
            (0.0, 0.15)
        };
        let draws = normal_values(t.values.len(), std, d);
        for (v, z) in t.values.iter_mut().zip(draws) {
            *v = mean + z;
        }
    }
    weights::import(gpt.config(), tensors, device).expect("same shapes")
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "tests/fixtures/finetune_parity".into()),
    );
    let scratch = std::env::temp_dir().join(format!("genpt-ft-parity-{}", std::process::id()));
    let device = genpt::device::device("flex")
        .map_err(anyhow::Error::msg)?
        .autodiff();
    let specials = SpecialIds {
        start: VOCAB as u32,
        delimiter: VOCAB as u32 + 1,
        classify: VOCAB as u32 + 2,
    };
    for (i, (name, kind)) in cases().into_iter().enumerate() {
        let seed = 100 + i as u64;
        device.seed(seed);
        let config = GptConfig {
            vocab_size: VOCAB,
            n_positions: 32,
            n_embd: 16,
            n_layer: 2,
            n_head: 2,
            ..GptConfig::gpt1()
        };
        let mut d = Draws::new(seed, 7);
        let gpt = perturbed(Gpt::new(&config, &device), &mut d, &device);
        let gpt = with_dropout(add_special_rows(gpt, 3, seed, &device), 0.0, &device);
        let (pooling, outputs) = head_shape(&kind);
        let model = new_classifier(gpt, pooling, outputs, 0.0, &device);
        let train = (0..40)
            .map(|j| encode_example(&example(j, &kind, &mut d), &kind, &tokenize, specials, 32))
            .collect::<Result<Vec<_>, _>>()?;
        // 40 examples in updates of 8 (two micro-batches of 4), two epochs: 10 updates, the
        // second epoch reshuffled; warmup over the first 2.
        let settings = FinetuneConfig {
            lr: 1e-3,
            batch_size: 8,
            micro_batch: 4,
            epochs: 2,
            warmup: 0.2,
            lm_coef: 0.5,
            clf_dropout: 0.0,
            seed,
            trace_updates: 10,
            ..FinetuneConfig::default()
        };
        let run = scratch.join(name);
        let job = ft::FinetuneJob {
            train: &train,
            dev: &[],
            config: &settings,
            evaluate: &|_| (0.0, serde_json::Value::Null),
            attach: &|_| Ok(()),
            out: &run,
            device: &device,
        };
        ft::finetune(model, &job)?;
        let target = out.join(name);
        let _ = std::fs::remove_dir_all(&target);
        copy_dir(&run.join("trace"), &target)?;
        eprintln!("{name}: trace in {}", target.display());
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
