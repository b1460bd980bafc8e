//! The fine-tuning loop learns tasks whose answers are known, for a classification and a
//! multiple-choice task, and its saved model reloads to the same predictions.

mod common;

use genpt::finetune::classifier::new_classifier;
use genpt::finetune::Pooling;
use genpt::finetune::{self as ft, EncodedExample, FinetuneConfig, Prediction, Target};
use genpt::rng::Draws;
use genpt::surgery::add_special_rows;
use genpt::{Gpt, GptConfig};

const VOCAB: usize = 30;
const START: u32 = VOCAB as u32;
const DELIM: u32 = VOCAB as u32 + 1;
const CLASSIFY: u32 = VOCAB as u32 + 2;

fn config() -> GptConfig {
    GptConfig {
        vocab_size: VOCAB,
        n_positions: 16,
        n_embd: 32,
        n_layer: 2,
        n_head: 2,
        ..GptConfig::gpt1()
    }
}

fn accuracy(predictions: &[Prediction], examples: &[EncodedExample]) -> f64 {
    let correct = predictions
        .iter()
        .zip(examples)
        .filter(|(p, e)| matches!((p, e.target), (Prediction::Class { index, .. }, Some(Target::Class(c))) if *index == c))
        .count();
    correct as f64 / examples.len() as f64
}

/// Label 1 when token 7 occurs in the text.
fn contains_seven(n: usize, seed: u64) -> Vec<EncodedExample> {
    common::contains_seven(n, seed, VOCAB)
}

/// Context [a b c], answers: the right one repeats a.
fn repeat_first(n: usize, seed: u64) -> Vec<EncodedExample> {
    let mut d = Draws::new(seed, 0);
    (0..n)
        .map(|_| {
            let context: Vec<u32> = (0..3).map(|_| d.below(VOCAB as u64) as u32).collect();
            let right = d.below(3) as usize;
            let mut sequences = Vec::new();
            for k in 0..3 {
                let answer = if k == right {
                    context[0]
                } else {
                    (context[0] + 1 + d.below(VOCAB as u64 - 1) as u32) % VOCAB as u32
                };
                let mut seq = vec![START];
                seq.extend(&context);
                seq.extend([DELIM, answer, CLASSIFY]);
                sequences.push(seq);
            }
            EncodedExample {
                classify_at: vec![6; 3],
                sequences,
                target: Some(Target::Class(right)),
            }
        })
        .collect()
}

fn train(
    pooling: Pooling,
    classes: usize,
    epochs: usize,
    train: &[EncodedExample],
    dev: &[EncodedExample],
    name: &str,
) -> f64 {
    let device = genpt::device::device("flex").unwrap().autodiff();
    // Drawn under the process-wide generator's lock: other tests draw beside this one.
    let model = genpt::rng::seeded(&device, 3, || {
        let gpt = add_special_rows(Gpt::new(&config(), &device), 3, 1, &device);
        new_classifier(gpt, pooling, classes, 0.1, &device)
    });
    let config = FinetuneConfig {
        lr: 3e-3,
        batch_size: 16,
        micro_batch: 16,
        epochs,
        warmup: 0.1,
        ..FinetuneConfig::default()
    };
    let out = std::env::temp_dir().join(format!("genpt-ft-{}-{name}", std::process::id()));
    let outcome = ft::finetune(
        model,
        &ft::FinetuneJob {
            train,
            dev,
            config: &config,
            evaluate: &|p: &[Prediction]| {
                let acc = accuracy(p, dev);
                (acc, serde_json::json!({ "accuracy": acc }))
            },
            attach: &|_| Ok(()),
            out: &out,
            device: &device,
        },
    )
    .unwrap();
    // The best model reloads and predicts what it scored.
    let reloaded = ft::load(&outcome.best_dir, &device).unwrap();
    let again = accuracy(&ft::predict(&reloaded, dev, 8, &device), dev);
    assert!(
        (again - outcome.best_score).abs() < 1e-9,
        "reloaded {again} vs {}",
        outcome.best_score
    );
    outcome.best_score
}

#[test]
fn learns_a_classification_task() {
    let acc = train(
        Pooling::Single,
        2,
        6,
        &contains_seven(384, 1),
        &contains_seven(100, 2),
        "clf",
    );
    println!("contains-7 dev accuracy {acc}");
    assert!(acc >= 0.85, "dev accuracy {acc}");
}

#[test]
fn learns_a_multiple_choice_task() {
    let acc = train(
        Pooling::PerChoiceScore,
        3,
        20,
        &repeat_first(384, 3),
        &repeat_first(100, 4),
        "mc",
    );
    println!("repeat-first dev accuracy {acc} (chance 0.33)");
    assert!(acc >= 0.7, "dev accuracy {acc}");
}
