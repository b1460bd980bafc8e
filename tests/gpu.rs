//! The GPU code path against flex: a build with a GPU feature (`wgpu`, `vulkan`) run on the GPU
//! backend named by `GENPT_GPU_BACKEND` (in CI `wgpu:cpu`, Mesa's lavapipe, a Vulkan driver on
//! the CPU). Without it every test here prints why it is skipped and passes.
//!
//! The logits and gradient norms of the PyTorch fixtures are checked on the same backend by
//! tests/parity.rs and tests/gpt2_parity.rs (`GENPT_TEST_BACKENDS`). This file checks what a run
//! does: one update's gradients, element by element, every parameter; 20 pre-training updates
//! and a short fine-tune whose losses follow flex's; greedy generation; checkpoints that move
//! between backends. A GPU computes in another order than flex (its own reductions and matmul
//! tiling), so values agree to a tolerance, not to the bit; each test has a negative control
//! that must miss by more than that tolerance.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};
use genpt::config::Arch;
use genpt::finetune::classifier::new_classifier;
use genpt::finetune::{self as ft, FinetuneConfig, Pooling, Prediction};
use genpt::generate::{generate, SamplingConfig};
use genpt::pretrain::{pretrain, RunConfig};
use genpt::rng::Draws;
use genpt::surgery::add_special_rows;
use genpt::train::NamedGrads;
use genpt::{Gpt, GptConfig};

/// The GPU backend under test, or None (and the reason printed) when none is named.
fn gpu(test: &str) -> Option<(String, Device)> {
    let Ok(name) = std::env::var("GENPT_GPU_BACKEND") else {
        println!("skipped {test}: GENPT_GPU_BACKEND names no GPU backend (e.g. wgpu:cpu)");
        return None;
    };
    let device = genpt::device::device(&name).unwrap_or_else(|e| panic!("{e}"));
    Some((name, device))
}

fn flex() -> Device {
    genpt::device::device("flex").unwrap()
}

fn tiny(arch: Arch) -> GptConfig {
    let base = match arch {
        Arch::Gpt1 => GptConfig::gpt1(),
        Arch::Gpt2 => GptConfig::gpt2(),
    };
    GptConfig {
        vocab_size: common::VOCAB,
        n_special: 0,
        n_positions: 16,
        n_embd: 32,
        n_layer: 2,
        n_head: 2,
        ..base
    }
}

fn ids(batch: usize, time: usize, seed: u64, device: &Device) -> Tensor<2, Int> {
    let mut d = Draws::new(seed, 0);
    let flat: Vec<i64> = (0..batch * time)
        .map(|_| d.below(common::VOCAB as u64) as i64)
        .collect();
    Tensor::from_data(TensorData::new(flat, [batch, time]), device)
}

fn values(t: Tensor<1>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// The gradients of one training forward (dropout on, its masks reseeded with `dropout_seed`)
/// and backward of `model`'s weights, loaded on `device`: by parameter name, on the host.
fn gradients(model: &Gpt, device: &Device, dropout_seed: u64) -> BTreeMap<String, Vec<f32>> {
    let device = device.clone().autodiff();
    let model = genpt::weights::import(model.config(), genpt::weights::export(model), &device)
        .expect("the weights load");
    let x = ids(3, 16, 5, &device);
    genpt::rng::dropout::reseed(dropout_seed);
    let loss = model.next_token_loss(model.forward(x.clone(), true).hidden, x);
    let mut grads = NamedGrads::default();
    grads.accumulate(&model, loss.backward());
    grads
        .grads
        .into_iter()
        .map(|(name, g)| (name, values(g)))
        .collect()
}

/// The worst, over parameters, of max |a − b| / max |b| (the gradient's own scale), with the
/// parameter's name.
fn worst_relative(a: &BTreeMap<String, Vec<f32>>, b: &BTreeMap<String, Vec<f32>>) -> (f64, String) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same parameters have gradients"
    );
    let mut worst = (0.0, String::new());
    for (name, ga) in a {
        let gb = &b[name];
        let scale = gb.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
        assert!(
            scale > 0.0,
            "{name}: a zero gradient (detached from the loss?)"
        );
        let diff = ga
            .iter()
            .zip(gb)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) as f64;
        if diff / scale > worst.0 {
            worst = (diff / scale, name.clone());
        }
    }
    worst
}

/// Gradients relative to their own scale: 1e-4 covers f32 sums taken in another order over
/// these sizes (measured on lavapipe: docs/gpu.md).
const GRAD_TOLERANCE: f64 = 1e-4;

#[test]
fn one_update_gives_flex_gradients_for_every_parameter() {
    let Some((name, device)) = gpu("one_update_gives_flex_gradients_for_every_parameter") else {
        return;
    };
    for arch in [Arch::Gpt1, Arch::Gpt2] {
        let model = genpt::rng::seeded(&flex(), 3, || Gpt::new(&tiny(arch), &flex()));
        let on_flex = gradients(&model, &flex(), 9);
        let on_gpu = gradients(&model, &device, 9);
        let every = genpt::train::parameter_layout(&model).len();
        assert_eq!(
            on_gpu.len(),
            every,
            "{name} {arch:?}: every parameter gets a gradient"
        );
        let (worst, at) = worst_relative(&on_gpu, &on_flex);
        // Negative control: the same batch under other dropout masks.
        let (control, _) = worst_relative(&gradients(&model, &flex(), 10), &on_flex);
        println!(
            "{name} {arch:?}: gradients vs flex, worst {worst:.2e} ({at}) over {every} parameters; \
             negative control (other dropout masks) {control:.2e}"
        );
        assert!(
            worst <= GRAD_TOLERANCE,
            "{name} {arch:?}: {at} off by {worst:e}"
        );
        assert!(
            control > 100.0 * GRAD_TOLERANCE,
            "negative control not caught: {control:e}"
        );
    }
}

/// The values of `key` in the records of `metrics.jsonl` under `out` that have it, in order.
fn metric_series(out: &Path, key: &str) -> Vec<f64> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|record| record.get(key).and_then(|v| v.as_f64()))
        .collect()
}

/// The per-update training losses of a pre-training run under `out`.
fn losses(out: &Path) -> Vec<f64> {
    metric_series(out, "loss")
}

fn run_config(data: &Path, out: &Path, backend: &str, extra: &[&str]) -> RunConfig {
    let mut overrides = vec![
        format!("train.backend={backend}"),
        "train.steps=20".to_string(),
        "train.warmup_steps=4".to_string(),
        "checkpoint.every=4".to_string(),
    ];
    overrides.extend(extra.iter().map(|s| s.to_string()));
    common::run_config(data, out, "tiny", &overrides)
}

/// Max |a − b| / |b| over the updates both have.
fn worst_loss_gap(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "the same number of updates");
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) / y).abs())
        .fold(0.0, f64::max)
}

/// Losses over 20 updates, relative: the gradients above agree to 1e-4 of their scale, and Adam
/// carries such differences on; measured far below this on lavapipe (docs/gpu.md).
const LOSS_TOLERANCE: f64 = 1e-3;

#[test]
fn pretraining_losses_follow_flex_and_checkpoints_move_between_backends() {
    let Some((name, _)) =
        gpu("pretraining_losses_follow_flex_and_checkpoints_move_between_backends")
    else {
        return;
    };
    let root = common::scratch("gpu", "pretrain");
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_corpus(&data);
    let run = |dir: &str, backend: &str, extra: &[&str]| {
        let out = root.join(dir);
        pretrain(&run_config(&data, &out, backend, extra), false, None).unwrap();
        losses(&out)
    };
    let on_flex = run("flex", "flex", &[]);
    let on_gpu = run("gpu", &name, &[]);
    assert_eq!(on_flex.len(), 20);
    let gap = worst_loss_gap(&on_gpu, &on_flex);
    // Negative control: flex from another seed (other weights, batches and masks).
    let control = worst_loss_gap(&run("flex-seed", "flex", &["train.seed=18"]), &on_flex);
    println!(
        "{name}: 20 pre-training updates, losses {:.4} → {:.4} on flex, worst relative gap \
         {gap:.2e}; negative control (another seed) {control:.2e}",
        on_flex[0], on_flex[19]
    );
    assert!(on_flex[19] < on_flex[0] - 0.1, "flex learns: {on_flex:?}");
    assert!(
        gap <= LOSS_TOLERANCE,
        "{name} vs flex: {on_gpu:?} vs {on_flex:?}"
    );
    assert!(
        control > 10.0 * LOSS_TOLERANCE,
        "negative control not caught: {control:e}"
    );

    // A run stopped after update 8 on one backend continues on the other: the losses of the
    // updates after the switch follow the uninterrupted flex run's.
    for (first, then) in [(name.as_str(), "flex"), ("flex", name.as_str())] {
        let dir = format!("switch-{}", first.replace(':', "-"));
        let out = root.join(&dir);
        pretrain(&run_config(&data, &out, first, &[]), false, Some(8)).unwrap();
        pretrain(&run_config(&data, &out, then, &[]), true, None).unwrap();
        let switched = losses(&out);
        let gap = worst_loss_gap(&switched[8..], &on_flex[8..]);
        println!(
            "checkpoint of update 8 written on {first}, resumed on {then}: worst gap {gap:.2e}"
        );
        assert!(
            gap <= LOSS_TOLERANCE,
            "{first} → {then}: {switched:?} vs {on_flex:?}"
        );
    }
}

/// A short fine-tune (auxiliary LM loss and dropout on) from the same seed on `device`: its
/// per-update classification losses and its dev predictions' probabilities.
fn finetune_on(device: &Device, seed: u64, out: &Path) -> (Vec<f64>, Vec<f64>) {
    let device = device.clone().autodiff();
    let model = genpt::rng::seeded(&device, 3, || {
        let gpt = add_special_rows(Gpt::new(&tiny(Arch::Gpt1), &device), 3, 1, &device);
        new_classifier(gpt, Pooling::Single, 2, 0.1, &device)
    });
    let (train, dev) = (
        common::contains_seven(48, 1, common::VOCAB),
        common::contains_seven(16, 2, common::VOCAB),
    );
    let config = FinetuneConfig {
        lr: 3e-3,
        batch_size: 8,
        micro_batch: 8,
        epochs: 2,
        warmup: 0.1,
        lm_coef: 0.5,
        seed,
        ..FinetuneConfig::default()
    };
    let _ = std::fs::remove_dir_all(out);
    let outcome = ft::finetune(
        model,
        &ft::FinetuneJob {
            train: &train,
            dev: &dev,
            config: &config,
            evaluate: &|_: &[Prediction]| (0.0, serde_json::json!({})),
            attach: &|_| Ok(()),
            out,
            device: &device,
        },
    )
    .unwrap();
    let losses = metric_series(out, "clf_loss");
    let best = ft::load(&outcome.best_dir, &device).unwrap();
    let probabilities = ft::predict(&best, &dev, 8, &device)
        .iter()
        .flat_map(|p| match p {
            Prediction::Class { probabilities, .. } => {
                probabilities.iter().map(|&p| p as f64).collect::<Vec<_>>()
            }
            other => panic!("a class prediction, not {other:?}"),
        })
        .collect();
    (losses, probabilities)
}

#[test]
fn a_short_finetune_follows_flex() {
    let Some((name, device)) = gpu("a_short_finetune_follows_flex") else {
        return;
    };
    let root = common::scratch("gpu", "finetune");
    let (flex_losses, flex_probs) = finetune_on(&flex(), 1, &root.join("flex"));
    let (gpu_losses, gpu_probs) = finetune_on(&device, 1, &root.join("gpu"));
    let gap = worst_loss_gap(&gpu_losses, &flex_losses);
    let prob_gap = gpu_probs
        .iter()
        .zip(&flex_probs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    // Negative control: flex with another shuffling and dropout seed.
    let (control_losses, _) = finetune_on(&flex(), 2, &root.join("flex-seed"));
    let control = worst_loss_gap(&control_losses, &flex_losses);
    println!(
        "{name}: fine-tune of {} updates, classification losses worst relative gap {gap:.2e}, \
         dev probabilities {prob_gap:.2e}; negative control (another seed) {control:.2e}",
        flex_losses.len()
    );
    assert!(gap <= LOSS_TOLERANCE, "{gpu_losses:?} vs {flex_losses:?}");
    assert!(
        prob_gap <= LOSS_TOLERANCE,
        "dev probabilities differ by {prob_gap:e}"
    );
    assert!(
        control > 10.0 * LOSS_TOLERANCE,
        "negative control not caught: {control:e}"
    );
}

#[test]
fn greedy_generation_gives_flex_tokens() {
    let Some((name, device)) = gpu("greedy_generation_gives_flex_tokens") else {
        return;
    };
    for arch in [Arch::Gpt1, Arch::Gpt2] {
        let mut config = tiny(arch);
        // Peaked distributions, so that a greedy path says something.
        config.initializer_range = 0.3;
        let model = genpt::rng::seeded(&flex(), 4, || Gpt::new(&config, &flex()));
        let on_gpu =
            genpt::weights::import(&config, genpt::weights::export(&model), &device).unwrap();
        let greedy = SamplingConfig {
            max_new_tokens: 24,
            temperature: 0.0,
            ..SamplingConfig::default()
        };
        let prompt = [3, 9, 27];
        // The cached path past the context (16), where the cache restarts.
        let want = generate(&model, &prompt, &greedy, true, |_| {});
        let got = generate(&on_gpu, &prompt, &greedy, true, |_| {});
        // Without the cache, past the context each step sees the last 16 tokens (the cache
        // restarts from the last half instead): compared with flex's own uncached tokens.
        let want_uncached = generate(&model, &prompt, &greedy, false, |_| {});
        let uncached = generate(&on_gpu, &prompt, &greedy, false, |_| {});
        // Negative control: another prompt's continuation.
        let other = generate(&model, &[4, 9, 27], &greedy, true, |_| {});
        println!("{name} {arch:?}: greedy {got:?}; flex {want:?}; another prompt {other:?}");
        assert_eq!(got, want, "{name} {arch:?}: cached greedy tokens");
        assert_eq!(
            uncached, want_uncached,
            "{name} {arch:?}: uncached greedy tokens"
        );
        assert_ne!(
            other, want,
            "negative control: another prompt continues the same"
        );
    }
}

/// Inference attention on the GPU (a flash kernel, [`genpt::kernels::attention`]) against the
/// composed reference, for whole sequences (one new token over a cache takes the composed path).
#[test]
fn fused_attention_matches_the_composed_reference() {
    let Some((name, device)) = gpu("fused_attention_matches_the_composed_reference") else {
        return;
    };
    let random = |shape: [usize; 4], seed: u64| {
        let mut d = Draws::new(seed, 0);
        let values: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| (d.below(2001) as f32 - 1000.0) / 500.0)
            .collect();
        Tensor::<4>::from_data(TensorData::new(values, shape), &device)
    };
    let host = |t: Tensor<4>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let gap = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
    };
    // (queries, keys): whole sequences of 37 (not a multiple of any tile) and of 8.
    for (queries, keys) in [(37, 37), (8, 8)] {
        let past = keys - queries;
        let q = random([2, 3, queries, 16], 1);
        let (k, v) = (random([2, 3, keys, 16], 2), random([2, 3, keys, 16], 3));
        let fused = host(genpt::kernels::attention(
            q.clone(),
            k.clone(),
            v.clone(),
            past,
            0.0,
        ));
        let composed = host(genpt::kernels::reference_attention(
            q.clone(),
            k.clone(),
            v.clone(),
            past,
            0.0,
        ));
        let worst = gap(&fused, &composed);
        // Negative control: the mask one key off (each query also sees the next key; one new
        // token then sees one key fewer).
        let shifted = match past {
            0 => 1,
            p => p - 1,
        };
        let control = if queries == 1 {
            let k1 = k.clone().narrow(2, 0, keys - 1);
            let v1 = v.clone().narrow(2, 0, keys - 1);
            gap(
                &host(genpt::kernels::reference_attention(q, k1, v1, shifted, 0.0)),
                &composed,
            )
        } else {
            gap(
                &host(genpt::kernels::reference_attention(q, k, v, shifted, 0.0)),
                &composed,
            )
        };
        println!(
            "{name}: attention {queries} queries over {keys} keys, fused vs composed {worst:.2e}; \
             negative control (mask one key off) {control:.2e}"
        );
        assert!(worst <= 1e-5, "{name}: fused attention off by {worst:e}");
        assert!(control > 1e-3, "negative control not caught: {control:e}");
    }
}

/// The LM head on the GPU (genpt's CubeCL kernel between chunked matmuls,
/// [`genpt::kernels::cube::linear_cross_entropy`]) against the composed reference (full logits,
/// log-softmax, gather) on the same device: the loss times an incoming gradient of 1.7, the
/// gradients of the hidden states and of the output matrix, and the scoring log-probabilities.
/// 45 rows in chunks of 8 (the last one short), a vocabulary of 1,000 (not a multiple of the
/// 256 units that stride over it), padding rows of weight 0. (Built with a GPU feature only: the
/// kernel's module is.)
#[cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda"))]
#[test]
fn fused_lm_head_matches_the_composed_reference() {
    let Some((name, plain)) = gpu("fused_lm_head_matches_the_composed_reference") else {
        return;
    };
    let device = plain.clone().autodiff();
    const CHUNK: usize = 8;
    let (rows, width, vocab) = (45, 24, 1000);
    let random = |n: usize, seed: u64, scale: f32| -> Vec<f32> {
        let mut d = Draws::new(seed, 0);
        (0..n)
            .map(|_| (d.below(2001) as f32 - 1000.0) / 1000.0 * scale)
            .collect()
    };
    let (hidden, weight) = (random(rows * width, 1, 2.0), random(vocab * width, 2, 1.0));
    let mut d = Draws::new(3, 0);
    let targets: Vec<i64> = (0..rows).map(|_| d.below(vocab as u64) as i64).collect();
    let row_weights: Vec<f32> = (0..rows)
        .map(|r| if r % 7 == 3 { 0.0 } else { 1.0 / rows as f32 })
        .collect();
    let host = |t: Tensor<2>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    type Head = fn(Tensor<2>, Tensor<2>, Tensor<1, Int>, Tensor<1>) -> Tensor<1>;
    // The loss, then the gradients of hidden and weight, all on the host.
    let run = |head: Head, targets: &[i64]| -> Vec<Vec<f32>> {
        let h = Tensor::<2>::from_data(TensorData::new(hidden.clone(), [rows, width]), &device)
            .require_grad();
        let w = Tensor::<2>::from_data(TensorData::new(weight.clone(), [vocab, width]), &device)
            .require_grad();
        let t = Tensor::<1, Int>::from_data(TensorData::new(targets.to_vec(), [rows]), &device);
        let rw = Tensor::<1>::from_data(TensorData::new(row_weights.clone(), [rows]), &device);
        let loss = head(h.clone(), w.clone(), t, rw);
        let grads = loss.clone().mul_scalar(1.7).sum().backward();
        vec![
            values(loss),
            host(h.grad(&grads).expect("hidden gets a gradient")),
            host(w.grad(&grads).expect("weight gets a gradient")),
        ]
    };
    let fused: Head = |h, w, t, rw| genpt::kernels::cube::linear_cross_entropy(h, w, t, rw, CHUNK);
    let composed: Head = genpt::kernels::reference_linear_cross_entropy;
    let got = run(fused, &targets);
    let want = run(composed, &targets);
    // Negative control: every target one token further on.
    let shifted: Vec<i64> = targets.iter().map(|t| (t + 1) % vocab as i64).collect();
    let wrong = run(composed, &shifted);
    // Relative to each quantity's own scale.
    let gap = |a: &[Vec<f32>], b: &[Vec<f32>]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| {
                let scale = y.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
                let diff = x
                    .iter()
                    .zip(y)
                    .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
                diff as f64 / scale
            })
            .fold(0.0, f64::max)
    };
    let (worst, control) = (gap(&got, &want), gap(&wrong, &want));

    // Scoring: the log-probabilities of every row, without autodiff.
    let h = Tensor::<2>::from_data(TensorData::new(hidden.clone(), [rows, width]), &plain);
    let w = Tensor::<2>::from_data(TensorData::new(weight.clone(), [vocab, width]), &plain);
    let t = Tensor::<1, Int>::from_data(TensorData::new(targets.clone(), [rows]), &plain);
    let scored = values(genpt::kernels::cube::linear_target_logprobs(
        h.clone(),
        w.clone(),
        t.clone(),
        CHUNK,
    ));
    let reference = values(genpt::kernels::reference_target_logprobs(h, w, t));
    let scoring = gap(&[scored], &[reference]);
    println!(
        "{name}: LM head {rows}×{width}, vocab {vocab}, chunks of {CHUNK}: loss and gradients vs \
         composed {worst:.2e}, scoring {scoring:.2e}; negative control (targets shifted) \
         {control:.2e}"
    );
    assert!(worst <= 1e-5, "{name}: fused LM head off by {worst:e}");
    assert!(scoring <= 1e-5, "{name}: fused scoring off by {scoring:e}");
    assert!(control > 1e-2, "negative control not caught: {control:e}");
}

/// A GPU that is not there is an error naming what is, not a panic at the first tensor.
#[test]
fn a_missing_gpu_is_an_error() {
    let Some((name, _)) = gpu("a_missing_gpu_is_an_error") else {
        return;
    };
    let family = name.split(':').next().unwrap();
    let absent = format!("{family}:9");
    let err = genpt::device::device(&absent).expect_err("no ninth discrete GPU here");
    println!("{absent}: {err}");
    assert!(err.contains(&absent), "{err}");
    // Negative control: the device under test comes up through the same path.
    assert!(genpt::device::device(&name).is_ok());
    #[cfg(feature = "cuda")]
    if std::env::var_os("GENPT_EXPECT_NO_CUDA").is_some() {
        let err = genpt::device::device("cuda").expect_err("no CUDA driver here");
        println!("cuda: {err}");
        assert!(err.contains("libcuda"), "{err}");
    }
}
