//! A GPT-2 classifier fine-tunes through the special-rows mechanism built for GPT-1
//! (`model::surgery::add_special_rows`): it learns a task with a known answer and reloads as
//! GPT-2. Nothing there assumes post-LN: the head reads the final hidden states, which for
//! GPT-2 come after `ln_f`.

mod common;

use genpt::config::Arch;
use genpt::finetune::classifier::new_classifier;
use genpt::finetune::Pooling;
use genpt::finetune::{self as ft, EncodedExample, FinetuneConfig, Prediction, Target};
use genpt::surgery::add_special_rows;
use genpt::{Gpt, GptConfig};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("genpt-gpt2-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const FT_VOCAB: usize = 30;
const START: u32 = FT_VOCAB as u32;
const CLASSIFY: u32 = FT_VOCAB as u32 + 2;

fn contains_seven(n: usize, seed: u64) -> Vec<EncodedExample> {
    common::contains_seven(n, seed, FT_VOCAB)
}

fn accuracy(predictions: &[Prediction], examples: &[EncodedExample]) -> f64 {
    let correct = predictions
        .iter()
        .zip(examples)
        .filter(|(p, e)| matches!((p, e.target), (Prediction::Class { index, .. }, Some(Target::Class(c))) if *index == c))
        .count();
    correct as f64 / examples.len() as f64
}

#[test]
fn a_gpt2_classifier_fine_tunes_through_the_special_rows() {
    let config = GptConfig {
        vocab_size: FT_VOCAB,
        n_positions: 16,
        n_embd: 32,
        n_layer: 2,
        n_head: 2,
        ..GptConfig::gpt2()
    };
    let device = genpt::device::device("flex").unwrap().autodiff();
    // Drawn under the process-wide generator's lock: other tests draw beside this one.
    let model = genpt::rng::seeded(&device, 3, || {
        let gpt = add_special_rows(Gpt::new(&config, &device), 3, 1, &device);
        assert_eq!(gpt.config().arch, Arch::Gpt2);
        assert!(gpt.ln_f.is_some(), "adding rows keeps ln_f");
        new_classifier(gpt, Pooling::Single, 2, 0.1, &device)
    });
    let (train, dev) = (contains_seven(384, 1), contains_seven(100, 2));
    let ft = FinetuneConfig {
        lr: 3e-3,
        batch_size: 16,
        micro_batch: 16,
        epochs: 6,
        warmup: 0.1,
        ..FinetuneConfig::default()
    };
    let out = scratch("ft");
    let outcome = ft::finetune(
        model,
        &ft::FinetuneJob {
            train: &train,
            dev: &dev,
            config: &ft,
            evaluate: &|p: &[Prediction]| {
                let acc = accuracy(p, &dev);
                (acc, serde_json::json!({ "accuracy": acc }))
            },
            attach: &|_| Ok(()),
            out: &out,
            device: &device,
        },
    )
    .unwrap();
    println!("gpt2 contains-7 dev accuracy {}", outcome.best_score);
    assert!(
        outcome.best_score >= 0.85,
        "dev accuracy {}",
        outcome.best_score
    );
    let reloaded = ft::load(&outcome.best_dir, &device).unwrap();
    assert_eq!(reloaded.gpt.config().arch, Arch::Gpt2);
    let again = accuracy(&ft::predict(&reloaded, &dev, 8, &device), &dev);
    assert!((again - outcome.best_score).abs() < 1e-9);
}

/// `--fidelity release` embeds with the release's whole embedding matrix and runs the blocks
/// through `Gpt::forward_embedded`. On GPT-2 that path must end in `ln_f` like every other: in
/// eval mode (no dropout) its hidden states equal `Gpt::forward`'s, which tests/gpt2_parity.rs
/// checks against transformers' GPT2Model. (Before issue 23 it skipped `ln_f`: the difference
/// was of the order of the states themselves.)
#[test]
fn release_mode_on_gpt2_ends_in_ln_f_like_the_reference_forward() {
    let config = GptConfig {
        vocab_size: FT_VOCAB,
        n_positions: 16,
        n_embd: 32,
        n_layer: 2,
        n_head: 2,
        ..GptConfig::gpt2()
    };
    let device = genpt::device::device("flex").unwrap();
    let gpt = genpt::rng::seeded(&device, 5, || {
        add_special_rows(Gpt::new(&config, &device), 3, 1, &device)
    });
    let ids: Vec<i64> = vec![START as i64, 9, 14, 7, 22, 11, CLASSIFY as i64];
    let ids = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(ids, [1, 7]),
        &device,
    );
    let reference = gpt.forward(ids.clone(), false).hidden;
    let we = genpt::finetune::release::embedding_matrix(&gpt);
    let release = genpt::finetune::release::hidden_states(&gpt, we, ids, false);
    let (r, g) = (
        reference.into_data().try_to_vec::<f32>().unwrap(),
        release.into_data().try_to_vec::<f32>().unwrap(),
    );
    let worst = r
        .iter()
        .zip(&g)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "release-mode hidden states differ by {worst}");
}
