//! Fine-tuning trajectories against PyTorch: for one task of each kind (classification,
//! entailment, similarity, regression, multiple choice), 10 updates of genpt's fine-tuning step
//! with λ = 0.5, dropout off, two micro-batches per update, warmup_linear and the release's Adam,
//! from the classifier in `tests/fixtures/finetune_parity/<case>/initial` (written by genpt,
//! `examples/finetune_parity_fixture.rs`). `torch.json` holds what
//! `scripts/finetune_parity.py replay` computed from the same start with transformers'
//! `OpenAIGPTModel`: the classification and auxiliary LM losses of every update and every
//! parameter's norm after the last (the special-token rows on their own as well).
//!
//! Negative controls, run by the test itself: the auxiliary loss summed over sequences instead
//! of averaged, and gradients that skip the special-token rows, must each be caught.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Tensor, TensorData};
use genpt::finetune::trace::{parameter_norms, read_examples};
use genpt::finetune::{self as ft, update_gradients, EncodedExample, FinetuneConfig};
use genpt::train::{take_step, AdamConfig, OpenAiAdam, Schedule};

const CASES: &[&str] = &[
    "classification",
    "entailment",
    "similarity",
    "regression",
    "choice",
];
const TOLERANCE: f64 = 1e-4;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// L1 summed over the sequences of a micro-batch instead of averaged.
    AuxSummed,
    /// The special-token rows of `tokens_embed` get no gradient.
    SpecialRowsSkipped,
}

#[derive(serde::Deserialize)]
struct TorchUpdate {
    clf_loss: f64,
    lm_loss: f64,
}

#[derive(serde::Deserialize)]
struct TorchRecord {
    updates: Vec<TorchUpdate>,
    parameter_norms: BTreeMap<String, f64>,
    examples: Vec<Vec<usize>>,
}

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/finetune_parity")
        .join(case)
}

/// The largest relative difference to PyTorch over every update's two losses and over the
/// final parameter norms, and where it is.
struct Report {
    worst_loss: (f64, String),
    worst_norm: (f64, String),
}

fn run_case(case: &str, backend: &str, fault: Fault) -> Option<Report> {
    let device = genpt::device::device(backend).ok()?.autodiff();
    let dir = fixture(case);
    let settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let mut config: FinetuneConfig = serde_json::from_value(settings["finetune"].clone()).unwrap();
    let total = settings["total_updates"].as_u64().unwrap();
    let warmup_steps = settings["warmup_steps"].as_u64().unwrap();
    let want: TorchRecord =
        serde_json::from_str(&std::fs::read_to_string(dir.join("torch.json")).unwrap()).unwrap();
    let train = read_examples(&dir.join("train.jsonl")).unwrap();
    let mut model = ft::load(&dir.join("initial"), &device).unwrap();
    let (vocab, width, rows) = {
        let c = model.gpt.config();
        (c.vocab_size, c.n_embd, c.embedding_rows())
    };
    if fault == Fault::AuxSummed {
        // Summing the per-sequence losses of a micro-batch is averaging them times its size.
        let sequences = config.micro_batch * train[0].sequences.len();
        config.lm_coef *= sequences as f64;
    }
    let mut optimizer = OpenAiAdam::new(AdamConfig {
        lr: config.lr,
        l2: config.l2,
        ..AdamConfig::default()
    });
    let mut worst_loss = (0.0f64, String::new());
    for (step, (indices, torch)) in want.examples.iter().zip(&want.updates).enumerate() {
        let examples: Vec<&EncodedExample> = indices.iter().map(|&i| &train[i]).collect();
        let mut g = update_gradients(&model, &examples, &config, step as u64, &device).unwrap();
        if fault == Fault::SpecialRowsSkipped {
            let keep: Vec<f32> = (0..rows * width)
                .map(|i| if i < vocab * width { 1.0 } else { 0.0 })
                .collect();
            let keep = Tensor::<1>::from_data(
                TensorData::new(keep, [rows * width]),
                &device.clone().inner(),
            );
            let grad = g
                .grads
                .grads
                .remove("gpt.tokens_embed")
                .expect("the classifier's embedding has a gradient");
            g.grads.grads.insert("gpt.tokens_embed".into(), grad * keep);
        }
        for (name, ours, theirs) in [
            ("clf", g.clf_loss, torch.clf_loss),
            ("lm", g.lm_loss, torch.lm_loss),
        ] {
            let rel = (ours - theirs).abs() / theirs.abs().max(1e-12);
            if rel > worst_loss.0 {
                worst_loss = (
                    rel,
                    format!("update {} {name} loss {ours} vs {theirs}", step + 1),
                );
            }
        }
        let factor = Schedule::WarmupLinear.at_step(step as u64, total, warmup_steps);
        model = take_step(model, &mut optimizer, g.grads, config.max_grad_norm, factor).0;
    }
    let ours = parameter_norms(&model);
    let mut worst_norm = (0.0f64, String::new());
    for (name, &theirs) in &want.parameter_norms {
        let got = ours[name];
        // A multiple-choice head's bias adds the same constant to every answer's score, so the
        // softmax ignores it: its true gradient is exactly zero and what each side computes is
        // rounding noise that Adam normalises into steps of random sign. Both must stay tiny.
        if case == "choice" && name == "head.bias" {
            assert!(
                got < 2e-2 && theirs < 2e-2,
                "{case}: head.bias should barely move: {got} vs {theirs}"
            );
            continue;
        }
        let rel = (got - theirs).abs() / theirs.max(1e-12);
        if rel > worst_norm.0 {
            worst_norm = (rel, format!("{name} {got} vs {theirs}"));
        }
    }
    Some(Report {
        worst_loss,
        worst_norm,
    })
}

#[test]
fn ten_updates_match_pytorch_for_every_task_kind() {
    for backend in ["flex", "ndarray"] {
        for case in CASES {
            let Some(r) = run_case(case, backend, Fault::None) else {
                println!("{backend}: not in this build, skipped");
                break;
            };
            println!(
                "{backend} {case:<14}: worst loss rel diff {:.1e} ({}); worst norm rel diff {:.1e} ({})",
                r.worst_loss.0, r.worst_loss.1, r.worst_norm.0, r.worst_norm.1
            );
            assert!(
                r.worst_loss.0 < TOLERANCE,
                "{backend} {case}: {}",
                r.worst_loss.1
            );
            assert!(
                r.worst_norm.0 < TOLERANCE,
                "{backend} {case}: {}",
                r.worst_norm.1
            );
        }
    }
}

#[test]
fn negative_controls_are_caught() {
    for (fault, what) in [
        (Fault::AuxSummed, "auxiliary loss summed"),
        (Fault::SpecialRowsSkipped, "special rows skipped"),
    ] {
        for case in CASES {
            let r = run_case(case, "flex", fault).expect("flex is the default backend");
            let worst = r.worst_loss.0.max(r.worst_norm.0);
            println!(
                "control '{what}', {case:<14}: worst loss rel diff {:.1e}, worst norm rel diff {:.1e} ({})",
                r.worst_loss.0, r.worst_norm.0, r.worst_norm.1
            );
            assert!(
                worst > 10.0 * TOLERANCE,
                "{case}: the parity check does not notice the {what} ({worst:e})"
            );
        }
    }
}
