//! `--fidelity release` (issue 15) against a numpy transcription of the official TensorFlow
//! release's graph and loop (`scripts/release_reference.py`, fixtures in
//! `tests/fixtures/release/`), not against genpt's own output.
//!
//! Graph (`graph.json`): a tiny model with given weights, one batch of two Story-Cloze-shaped
//! examples, the release's n_ctx (10) longer than the batch (8), and a fixed embedding-dropout
//! mask on `we` fed to both sides (other dropouts 0). Checked: LM logits over every row of `we`,
//! the per-sequence LM losses (which count the delimiter and classify targets), the classifier
//! logits, the training loss and its gradient with respect to `we` (tokens, special tokens and
//! positions).
//!
//! Loop (`bookkeeping.json`): updates per epoch and in total with the last partial batch
//! dropped, when `log()` runs, which parameters end up as the best, the learning-rate multiplier
//! of each update, and the per-dataset n_ctx.
//!
//! Each check has a negative control that must miss the reference by more than the tolerance:
//! the default (Hugging Face) objective, the dropped `we` used for the input only, the delimiter
//! and classify targets left out, ⌈n/batch⌉ updates, rounded warmup.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use genpt::finetune::classifier::Classifier;
use genpt::finetune::objective::{classification_loss, lm_aux_loss};
use genpt::finetune::release::{self, WeDropout};
use genpt::finetune::run::{self, Best, LoopHooks};
use genpt::finetune::{ClassifierHead, Pooling};
use genpt::finetune::{EncodedExample, LoopPolicy, Target};
use genpt::train::{NamedGrads, Schedule};
use genpt::weights::{self, HostTensor};
use genpt::{Gpt, GptConfig};
use serde_json::Value;

/// f32 through two layers against float64: the largest deviation seen is about 1e-6.
const TOLERANCE: f64 = 1e-4;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/release")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("not a number: {other}"),
    }
}

fn shape(v: &Value) -> Vec<usize> {
    match v {
        Value::Array(items) => {
            let mut s = vec![items.len()];
            s.extend(shape(&items[0]));
            s
        }
        _ => vec![],
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

struct Graph {
    model: Classifier,
    ids: Tensor<3, Int>,
    classify_at: Tensor<2, Int>,
    mask: Tensor<2>,
    labels: Tensor<1, Int>,
    examples: Vec<EncodedExample>,
    lm_coef: f64,
    n_ctx: usize,
    time: usize,
}

/// The fixture's model and batch, padded to the batch's longest sequence as genpt pads.
fn graph(fix: &Value, device: &Device) -> Graph {
    let c = &fix["config"];
    let n = |k: &str| c[k].as_u64().unwrap() as usize;
    let config = GptConfig {
        vocab_size: n("n_vocab"),
        n_special: n("n_special"),
        n_positions: n("n_ctx"),
        n_embd: n("n_embd"),
        n_layer: n("n_layer"),
        n_head: n("n_head"),
        embd_pdrop: 0.0,
        attn_pdrop: 0.0,
        resid_pdrop: 0.0,
        ..GptConfig::gpt1()
    };
    let tensors = fix["weights"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), HostTensor::new(shape(v), floats(v))))
        .collect();
    let gpt = weights::import(&config, tensors, device).unwrap();
    // Its weights are the fixture's: a lazy head draws nothing.
    let mut head = ClassifierHead::new_lazy(config.n_embd, 1, Pooling::PerChoiceScore, 0.0, device);
    let w = TensorData::new(floats(&fix["clf_w"]), [config.n_embd, 1]);
    head.weight = Param::from_tensor(Tensor::from_data(w, device));
    head.bias = Param::from_tensor(Tensor::from_data(
        TensorData::new(floats(&fix["clf_b"]), [1]),
        device,
    ));
    let labels: Vec<usize> = fix["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let examples: Vec<EncodedExample> = fix["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&labels)
        .map(|(seqs, &y)| {
            let sequences: Vec<Vec<u32>> = seqs
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    s.as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_u64().unwrap() as u32)
                        .collect()
                })
                .collect();
            EncodedExample {
                classify_at: sequences.iter().map(|s| s.len() - 1).collect(),
                sequences,
                target: Some(Target::Class(y)),
            }
        })
        .collect();
    let (batch, choices) = (examples.len(), 2);
    let time = examples
        .iter()
        .flat_map(|e| e.sequences.iter().map(Vec::len))
        .max()
        .unwrap();
    let mut ids = vec![0i64; batch * choices * time];
    let mut mask = vec![0f32; batch * choices * time];
    let mut at = vec![];
    for (b, e) in examples.iter().enumerate() {
        for (k, s) in e.sequences.iter().enumerate() {
            for (t, &id) in s.iter().enumerate() {
                ids[(b * choices + k) * time + t] = id as i64;
                mask[(b * choices + k) * time + t] = 1.0;
            }
            at.push(e.classify_at[k] as i64);
        }
    }
    Graph {
        model: Classifier {
            gpt,
            head: head.materialize(),
        },
        ids: Tensor::from_data(TensorData::new(ids, [batch, choices, time]), device),
        classify_at: Tensor::from_data(TensorData::new(at, [batch, choices]), device),
        mask: Tensor::from_data(TensorData::new(mask, [batch * choices, time]), device),
        labels: Tensor::from_data(
            TensorData::new(labels.iter().map(|&y| y as i64).collect(), [batch]),
            device,
        ),
        examples,
        lm_coef: c["lm_coef"].as_f64().unwrap(),
        n_ctx: n("n_ctx"),
        time,
    }
}

/// The gradient of `loss` with respect to `we`: tokens_embed's rows then positions_embed's.
fn we_grad(model: &Classifier, loss: Tensor<1>) -> Vec<f64> {
    let mut grads = NamedGrads::default();
    grads.accumulate(model, loss.backward());
    let mut out = values(grads.grads["gpt.tokens_embed"].clone());
    out.extend(values(grads.grads["gpt.positions_embed"].clone()));
    out
}

/// What one variant of the objective gives for the fixture's batch.
struct Got {
    lm_logits: Option<Vec<f64>>,
    lm_losses: Option<Vec<f64>>,
    clf_logits: Vec<f64>,
    train_loss: f64,
    grad_we: Vec<f64>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Variant {
    /// `--fidelity release`.
    Release,
    /// Negative control: the default (Hugging Face) objective: dropout on the embedded sum
    /// (here 0), LM softmax over the real tokens, special-token targets left out.
    Hf,
    /// Negative control: the dropped `we` embeds the input but the LM head uses `we` undropped.
    UntiedDropout,
    /// Negative control: the release's head, but the delimiter and classify targets left out.
    TextTargetsOnly,
}

fn run_variant(g: &Graph, mask: &Value, variant: Variant, device: &Device) -> Got {
    let model = &g.model;
    let rows = g.n_ctx + model.gpt.config().embedding_rows();
    let width = model.gpt.config().n_embd;
    let we_mask = Tensor::<2>::from_data(TensorData::new(floats(mask), [rows, width]), device);
    let [batch, choices, time] = g.ids.dims();
    let ids_flat = g.ids.clone().reshape([batch * choices, time]);
    if variant == Variant::Hf {
        let out = model.forward(g.ids.clone(), g.classify_at.clone(), true, true);
        let clf = classification_loss(out.logits.clone(), g.labels.clone());
        let lm = lm_aux_loss(&model.gpt, out.lm_hidden.unwrap(), ids_flat, g.mask.clone());
        let loss = clf + lm.mul_scalar(g.lm_coef);
        return Got {
            lm_logits: None,
            lm_losses: None,
            clf_logits: values(out.logits),
            train_loss: values(loss.clone())[0],
            grad_we: we_grad(model, loss),
        };
    }
    let out = release::forward(
        model,
        g.ids.clone(),
        g.classify_at.clone(),
        true,
        WeDropout::Mask(Box::new(we_mask)),
    );
    let head = match variant {
        Variant::UntiedDropout => release::embedding_matrix(&model.gpt),
        _ => out.we.clone(),
    };
    let lm_mask = match variant {
        // Zero the mask where the token is a special one (the delimiter and classify token).
        Variant::TextTargetsOnly => {
            let text = ids_flat
                .clone()
                .lower_elem(model.gpt.config().vocab_size as i64)
                .float();
            g.mask.clone() * text
        }
        _ => g.mask.clone(),
    };
    let logits = release::lm_logits(out.hidden.clone(), head.clone());
    let lm_losses =
        release::aux_losses_from_logits(logits.clone(), ids_flat.clone(), lm_mask.clone());
    let clf = classification_loss(out.logits.clone(), g.labels.clone());
    let lm = release::aux_loss(out.hidden, head, ids_flat, lm_mask);
    let loss = clf + lm.mul_scalar(g.lm_coef);
    Got {
        lm_logits: Some(values(logits)),
        lm_losses: Some(values(lm_losses)),
        clf_logits: values(out.logits),
        train_loss: values(loss.clone())[0],
        grad_we: we_grad(model, loss),
    }
}

/// The fixture's LM logits [sequences, n_ctx − 1, rows] restricted to the batch's positions
/// (the release pads to n_ctx; causal attention makes the shorter padding irrelevant).
fn want_logits(case: &Value, time: usize) -> Vec<f64> {
    let mut out = vec![];
    for seq in case["lm_logits"].as_array().unwrap() {
        for t in seq.as_array().unwrap().iter().take(time) {
            out.extend(floats(t).into_iter().map(f64::from));
        }
    }
    out
}

fn f64s(v: &Value) -> Vec<f64> {
    floats(v).into_iter().map(f64::from).collect()
}

/// The largest deviation of `got` from the reference over every checked quantity, and where.
fn deviation(got: &Got, case: &Value, time: usize) -> (f64, String) {
    let grad_want = f64s(&case["grad_we"]);
    let grad_scale = grad_want.iter().fold(0f64, |m, g| m.max(g.abs()));
    let mut parts = vec![
        (
            "clf_logits",
            max_diff(&got.clf_logits, &f64s(&case["clf_logits"])),
        ),
        (
            "train_loss",
            (got.train_loss - case["train_loss"].as_f64().unwrap()).abs(),
        ),
        // Relative to the largest gradient entry.
        ("grad_we", max_diff(&got.grad_we, &grad_want) / grad_scale),
    ];
    if let Some(l) = &got.lm_logits {
        parts.push(("lm_logits", max_diff(l, &want_logits(case, time))));
    }
    if let Some(l) = &got.lm_losses {
        parts.push(("lm_losses", max_diff(l, &f64s(&case["lm_losses"]))));
    }
    let worst = parts.iter().fold((0.0, String::new()), |w, (name, d)| {
        if *d > w.0 {
            (*d, name.to_string())
        } else {
            w
        }
    });
    let detail = parts
        .iter()
        .map(|(n, d)| format!("{n} {d:.2e}"))
        .collect::<Vec<_>>()
        .join(", ");
    (worst.0, format!("worst {} ({detail})", worst.1))
}

fn backends() -> Vec<&'static str> {
    genpt::device::compiled()
        .into_iter()
        .filter(|b| *b != "cuda")
        .collect()
}

#[test]
fn release_graph_matches_the_numpy_transcription() {
    let fix = fixture("graph.json");
    for backend in backends() {
        let device = genpt::device::device(backend).unwrap().autodiff();
        let g = graph(&fix, &device);
        assert!(
            g.time < g.n_ctx,
            "the batch is shorter than the dataset's n_ctx"
        );
        for (name, case) in fix["cases"].as_object().unwrap() {
            let got = run_variant(&g, &case["we_mask"], Variant::Release, &device);
            let (worst, detail) = deviation(&got, case, g.time);
            println!("{backend} {name}: release mode vs the release: {detail}");
            assert!(worst < TOLERANCE, "{backend} {name}: {detail}");
            // Negative controls: each must miss the reference.
            let controls: &[Variant] = if name == "we_dropout" {
                &[Variant::UntiedDropout, Variant::TextTargetsOnly]
            } else {
                &[Variant::Hf, Variant::TextTargetsOnly]
            };
            for &control in controls {
                let got = run_variant(&g, &case["we_mask"], control, &device);
                let (worst, detail) = deviation(&got, case, g.time);
                println!("{backend} {name}: negative control {control:?} (must fail): {detail}");
                assert!(
                    worst > 10.0 * TOLERANCE,
                    "{backend} {name}: control {control:?} was not caught: {detail}"
                );
            }
        }
    }
}

/// The positions rows are the dataset's n_ctx, sliced from a longer pre-trained table.
#[test]
fn positions_are_sliced_to_the_dataset_context() {
    let device = genpt::device::device("flex").unwrap();
    let config = GptConfig {
        vocab_size: 10,
        n_positions: 16,
        n_embd: 8,
        n_layer: 1,
        n_head: 2,
        ..GptConfig::gpt1()
    };
    let gpt = Gpt::new(&config, &device);
    let before = weights::export(&gpt)["positions_embed"].values.clone();
    let sliced = genpt::surgery::slice_positions(gpt, 10, &device);
    assert_eq!(sliced.config().n_positions, 10);
    assert_eq!(
        weights::export(&sliced)["positions_embed"].values,
        before[..10 * 8]
    );
    assert_eq!(release::embedding_matrix(&sliced).dims(), [10 + 10, 8]);
}

/// Counts what the loop does, and scores each log with the fixture's next dev score.
struct Recorder {
    scores: Vec<f64>,
    updates: Vec<Vec<usize>>,
    logs: Vec<(usize, u64)>,
    saves: usize,
}

impl LoopHooks for Recorder {
    fn update(&mut self, step: u64, batch: &[usize]) -> anyhow::Result<()> {
        assert_eq!(step as usize, self.updates.len(), "steps count from 0");
        self.updates.push(batch.to_vec());
        Ok(())
    }
    fn log(&mut self, n_epochs: usize, n_updates: u64) -> anyhow::Result<f64> {
        self.logs.push((n_epochs, n_updates));
        Ok(self.scores[(self.logs.len() - 1) % self.scores.len()])
    }
    fn save_best(&mut self) -> anyhow::Result<()> {
        self.saves += 1;
        Ok(())
    }
}

#[test]
fn release_loop_matches_the_transcribed_loop() {
    let fix = fixture("bookkeeping.json");
    for case in fix["loops"].as_array().unwrap() {
        let n = |k: &str| case[k].as_u64().unwrap() as usize;
        let (n_train, batch, epochs) = (n("n_train"), n("n_batch_train"), n("n_iter"));
        let mut rec = Recorder {
            scores: f64s(&case["va_scores"]),
            updates: vec![],
            logs: vec![],
            saves: 0,
        };
        let best = run::drive(n_train, batch, epochs, 7, &LoopPolicy::RELEASE, &mut rec).unwrap();
        let total = LoopPolicy::RELEASE.total_updates(n_train, batch, epochs);
        assert_eq!(total as usize, n("n_updates_total"), "{case}");
        assert_eq!(rec.updates.len(), n("n_updates_total"), "updates run");
        assert!(
            rec.updates.iter().all(|b| b.len() == batch),
            "full batches only"
        );
        let per_epoch = rec.updates.len() / epochs.max(1);
        for epoch in rec.updates.chunks(per_epoch.max(1)) {
            let mut seen: Vec<usize> = epoch.iter().flatten().copied().collect();
            let count = seen.len();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), count, "no example twice in an epoch");
            assert_eq!(count, n("examples_per_epoch"), "examples per epoch");
        }
        let want_logs: Vec<(usize, u64)> = case["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l[0].as_u64().unwrap() as usize, l[1].as_u64().unwrap()))
            .collect();
        assert_eq!(rec.logs, want_logs, "log() calls");
        let want_best = case["best_log"].as_i64().unwrap();
        let got_best = match best {
            Best::Initial => -1,
            Best::Final => -2,
            Best::Log { index, .. } => index as i64,
        };
        assert_eq!(got_best, want_best, "best parameters: {case}");
        println!(
            "n_train {n_train}, batch {batch}, {epochs} epochs: {total} updates, logs {:?}, best {best:?}; \
             negative control ⌈n/batch⌉·epochs = {} (must differ unless batch divides n)",
            rec.logs,
            n_train.div_ceil(batch) * epochs
        );
        if n_train % batch != 0 {
            assert_ne!(n_train.div_ceil(batch) * epochs, n("n_updates_total"));
        }
    }
}

#[test]
fn learning_rate_multipliers_match_opt_py() {
    let fix = fixture("bookkeeping.json");
    let mut controls_caught = 0;
    for case in fix["schedules"].as_array().unwrap() {
        let total = case["total"].as_u64().unwrap();
        let warmup = case["warmup"].as_f64().unwrap();
        let want = f64s(&case["factors"]);
        let got: Vec<f64> = (0..total)
            .map(|s| LoopPolicy::RELEASE.lr_factor(s, total, warmup))
            .collect();
        // The fixture holds f32-rounded values.
        let worst = max_diff(&got, &want);
        // Negative control: the default loop's warmup rounded to whole updates.
        let steps = (warmup * total as f64).round() as u64;
        let rounded: Vec<f64> = (0..total)
            .map(|s| Schedule::WarmupLinear.at_step(s, total, steps))
            .collect();
        let control = max_diff(&rounded, &want);
        println!(
            "total {total}, warmup {warmup}: release mode off by {worst:.1e}; \
             negative control (rounded warmup) off by {control:.3}"
        );
        assert!(worst < 1e-6, "total {total} warmup {warmup}: {worst}");
        controls_caught += usize::from(control > 1e-3);
    }
    assert!(
        controls_caught >= 2,
        "the rounded warmup must miss the release"
    );
}

#[test]
fn dataset_context_matches_train_py() {
    let fix = fixture("bookkeeping.json");
    let (start, delimiter, classify) = (100u32, 101, 102);
    let mut controls_caught = 0;
    for case in fix["n_ctx"].as_array().unwrap() {
        let cap = case["cap"].as_u64().unwrap() as usize;
        // Each split: segment lengths [x1 lengths, x2 lengths, x3 lengths], encoded as Story
        // Cloze is: start, story, delimiter, ending, classify.
        let splits: Vec<Vec<EncodedExample>> = case["splits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|split| {
                let l = |i: usize| -> Vec<usize> {
                    split[i]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_u64().unwrap() as usize)
                        .collect()
                };
                let (x1, x2, x3) = (l(0), l(1), l(2));
                (0..x1.len())
                    .map(|i| {
                        let seq = |ending: usize| {
                            let mut s = vec![start];
                            s.extend(std::iter::repeat_n(1, x1[i]));
                            s.push(delimiter);
                            s.extend(std::iter::repeat_n(2, ending));
                            s.push(classify);
                            s
                        };
                        let sequences = vec![seq(x2[i]), seq(x3[i])];
                        EncodedExample {
                            classify_at: sequences.iter().map(|s| s.len() - 1).collect(),
                            sequences,
                            target: None,
                        }
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<&[EncodedExample]> = splits.iter().map(Vec::as_slice).collect();
        let got = genpt::finetune::release::dataset_n_ctx(&refs, cap);
        let want = case["n_ctx"].as_u64().unwrap() as usize;
        // Negative control: the training split alone (the release looks at every split).
        let train_only = genpt::finetune::release::dataset_n_ctx(&refs[..1], cap);
        println!(
            "n_ctx {got} (release {want}); negative control, training split alone: {train_only}"
        );
        assert_eq!(got, want);
        controls_caught += usize::from(train_only != want);
    }
    assert!(
        controls_caught >= 1,
        "the training split alone must miss the release's n_ctx"
    );
}

/// The `--fidelity release` plumbing: `finetune::update_gradients` with the release fidelity gives
/// the reference losses (dropout 0, so the model's draws are the identity).
#[test]
fn update_gradients_uses_the_release_graph() {
    let fix = fixture("graph.json");
    let device = genpt::device::device("flex").unwrap().autodiff();
    let g = graph(&fix, &device);
    let case = &fix["cases"]["no_dropout"];
    let examples: Vec<&EncodedExample> = g.examples.iter().collect();
    let mut lm_means = BTreeMap::new();
    for fidelity in [
        genpt::finetune::Fidelity::Release,
        genpt::finetune::Fidelity::Hf,
    ] {
        let config = genpt::finetune::FinetuneConfig {
            micro_batch: examples.len(),
            lm_coef: g.lm_coef,
            clf_dropout: 0.0,
            fidelity,
            ..Default::default()
        };
        let u =
            genpt::finetune::update_gradients(&g.model, &examples, &config, 0, &device).unwrap();
        lm_means.insert(fidelity.to_string(), (u.clf_loss, u.lm_loss));
    }
    let want_lm = f64s(&case["lm_losses"]).iter().sum::<f64>() / 4.0;
    let want_clf = f64s(&case["clf_losses"]).iter().sum::<f64>() / 2.0;
    let (clf, lm) = lm_means["release"];
    let (_, hf_lm) = lm_means["hf"];
    println!(
        "update_gradients: release clf {clf:.6} lm {lm:.6}; the release {want_clf:.6} {want_lm:.6}; \
         negative control hf lm {hf_lm:.6}"
    );
    assert!((clf - want_clf).abs() < TOLERANCE && (lm - want_lm).abs() < TOLERANCE);
    assert!(
        (hf_lm - want_lm).abs() > 10.0 * TOLERANCE,
        "hf mode must differ"
    );
}
