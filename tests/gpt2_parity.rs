//! GPT-2 parity with the reference implementation (PyTorch + transformers' `GPT2LMHeadModel`),
//! in the manner of llm.c's `test_gpt2.c`: fixed checkpoints and the outputs the reference
//! computed for them (`scripts/make_gpt2_fixtures.py`), checked on every CPU backend. flex runs
//! the fused kernels; ndarray (and flex under `GENPT_FUSED=0`) the composed operations.
//!
//! Three checkpoints, one per layout a `gpt2` checkpoint comes in: `tiny-random-gpt2` (the
//! published hf-internal-testing model, un-prefixed names), `ctx8` (fills its context; the
//! `transformer.` prefix, a tied `lm_head.weight` and the attention-mask buffers all present)
//! and `odd3` (odd widths: 3 heads of 12, FFN 50, vocab 77; as `save_pretrained` writes it).
//!
//! Tolerances (as for GPT-1, issue 2): logits 1e-4 absolute, loss 1e-5 relative, gradient norms
//! 1e-4 relative.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use genpt::config::Arch;
use genpt::generate::{generate, SamplingConfig};
use genpt::model::KvCache;
use genpt::weights::{self, hf, named::grad_norms};
use genpt::{loss::lm_loss, Gpt};
use serde::Deserialize;

#[derive(Deserialize)]
struct Expected {
    ids: Vec<Vec<i64>>,
    logits_shape: Vec<usize>,
    logits: Vec<f32>,
    loss: f64,
    grad_norms: BTreeMap<String, f64>,
    greedy_prompt: Vec<u32>,
    greedy: Vec<u32>,
    hf_parameter_names: Vec<String>,
}

const CASES: [&str; 3] = ["tiny-random-gpt2", "ctx8", "odd3"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gpt2")
        .join(name)
}

fn read_expected(dir: &Path) -> Expected {
    serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap()
}

fn backends() -> Vec<(String, Device)> {
    common::test_backends()
}

fn ids_tensor(ids: &[Vec<i64>], device: &Device) -> Tensor<2, Int> {
    let (batch, time) = (ids.len(), ids[0].len());
    let flat: Vec<i64> = ids.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [batch, time]), device)
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Loads `dir` on `device` with autodiff, runs forward (no dropout) and backward, and checks
/// logits, loss and gradient norms against the reference.
fn check(dir: &Path, expected: &Expected, backend: &str, device: &Device) {
    let device = device.clone().autodiff();
    let model = hf::load(dir, &device).unwrap_or_else(|e| panic!("{backend}: {e}"));
    assert_eq!(model.config().arch, Arch::Gpt2);
    let ids = ids_tensor(&expected.ids, &device);
    let logits = model.lm_logits(model.forward(ids.clone(), false).hidden);
    assert_eq!(logits.dims().to_vec(), expected.logits_shape);
    let worst = max_abs_diff(&to_vec(logits.clone()), &expected.logits);
    println!("{backend} {}: max |Δlogit| = {worst:.2e}", dir.display());
    assert!(
        worst <= 1e-4,
        "{backend}: logits differ by up to {worst:e} (> 1e-4)"
    );

    // The loss and its gradients two ways: composed from the logits above, and through the
    // model's own loss path (the fused LM head on flex, which never forms the logits).
    for path in ["composed", "model"] {
        let loss = if path == "composed" {
            lm_loss(logits.clone(), ids.clone())
        } else {
            model.next_token_loss(model.forward(ids.clone(), false).hidden, ids.clone())
        };
        let got_loss = loss.clone().into_scalar::<f32>() as f64;
        let rel = ((got_loss - expected.loss) / expected.loss).abs();
        println!(
            "{backend} {path}: loss {got_loss:.7} vs {:.7} (|Δ| {:.1e}, rel {rel:.1e})",
            expected.loss,
            (got_loss - expected.loss).abs()
        );
        assert!(
            rel <= 1e-5,
            "{backend} {path}: loss {got_loss} vs reference {}",
            expected.loss
        );

        let norms = grad_norms(&model, &loss.backward());
        assert_eq!(
            norms.keys().collect::<Vec<_>>(),
            expected.grad_norms.keys().collect::<Vec<_>>(),
            "{backend} {path}: parameters with gradients"
        );
        let mut worst = (0.0, String::new());
        for (name, want) in &expected.grad_norms {
            let rel = ((norms[name] - want) / want).abs();
            if rel > worst.0 {
                worst = (rel, name.clone());
            }
        }
        println!(
            "{backend} {path}: worst gradient-norm relative error {:.2e} ({}) over {} parameters",
            worst.0,
            worst.1,
            norms.len()
        );
        assert!(
            worst.0 <= 1e-4,
            "{backend} {path}: gradient norm of {} off by {:e} relative",
            worst.1,
            worst.0
        );
    }
}

#[test]
fn published_tiny_random_gpt2_matches_pytorch() {
    let dir = fixture("tiny-random-gpt2");
    let expected = read_expected(&dir);
    for (backend, device) in backends() {
        check(&dir, &expected, &backend, &device);
    }
}

#[test]
fn old_layout_with_buffers_and_lm_head_filling_its_context_matches_pytorch() {
    let dir = fixture("ctx8");
    let expected = read_expected(&dir);
    assert_eq!(
        expected.ids[0].len(),
        8,
        "this case fills its whole context"
    );
    let names = hf::read_safetensors(&dir.join(hf::WEIGHTS_FILE)).unwrap();
    assert!(
        names.contains_key("lm_head.weight") && names.contains_key("transformer.h.0.attn.bias")
    );
    for (backend, device) in backends() {
        check(&dir, &expected, &backend, &device);
    }
}

#[test]
fn odd_sizes_match_pytorch() {
    let dir = fixture("odd3");
    let expected = read_expected(&dir);
    for (backend, device) in backends() {
        check(&dir, &expected, &backend, &device);
    }
}

/// Negative control: the same weights computed as GPT-1 would (post-LN blocks, no `ln_f`) must
/// fail the logits check by far, which shows the check above can tell the two apart.
#[test]
fn the_checkpoint_read_as_post_ln_fails_the_logits_check() {
    for name in CASES {
        let dir = fixture(name);
        let expected = read_expected(&dir);
        let device = genpt::device::device("flex").unwrap();
        let gpt2 = hf::load(&dir, &device).unwrap();
        let mut tensors = weights::export(&gpt2);
        tensors.retain(|name, _| !name.starts_with("ln_f."));
        let config = genpt::GptConfig {
            arch: Arch::Gpt1,
            ..gpt2.config().clone()
        };
        let post_ln = weights::import(&config, tensors, &device).unwrap();
        let ids = ids_tensor(&expected.ids, &device);
        let logits = to_vec(post_ln.lm_logits(post_ln.forward(ids, false).hidden));
        let worst = max_abs_diff(&logits, &expected.logits);
        println!("{name} read as post-LN GPT-1: max |Δlogit| = {worst:.2e} (must exceed 1e-4)");
        assert!(worst > 1e-2, "{name}: post-LN logits are within {worst:e}");
    }
}

/// Incremental decoding with the key/value cache gives, at every position, the logits PyTorch
/// computes for the whole sequence at once: first a prefill of several tokens, then one token
/// per step.
#[test]
fn cached_decoding_matches_the_reference_logits() {
    for name in CASES {
        let dir = fixture(name);
        let expected = read_expected(&dir);
        let vocab = expected.logits_shape[2];
        for (backend, device) in backends() {
            let model = hf::load(&dir, &device).unwrap();
            let ids = &expected.ids[0];
            let mut cache = KvCache::default();
            let prefill = 3;
            let mut worst = 0.0f32;
            let mut at = 0;
            while at < ids.len() {
                let n = if at == 0 { prefill } else { 1 };
                let chunk = ids_tensor(&[ids[at..at + n].to_vec()], &device);
                let hidden = model.forward_cached(chunk, &mut cache).hidden;
                let got = to_vec(model.lm_logits(hidden));
                let want = &expected.logits[at * vocab..(at + n) * vocab];
                worst = worst.max(max_abs_diff(&got, want));
                at += n;
            }
            assert_eq!(cache.len, ids.len());
            println!("{backend} {name}: cached decoding max |Δlogit| = {worst:.2e}");
            assert!(
                worst <= 1e-4,
                "{backend} {name}: cached logits off by {worst:e}"
            );
        }
    }
}

/// Greedy decoding gives the tokens `GPT2LMHeadModel.generate(do_sample=False)` gives.
#[test]
fn greedy_generation_matches_transformers() {
    for name in CASES {
        let dir = fixture(name);
        let expected = read_expected(&dir);
        for (backend, device) in backends() {
            let model = hf::load(&dir, &device).unwrap();
            let config = SamplingConfig {
                temperature: 0.0,
                max_new_tokens: expected.greedy.len(),
                ..Default::default()
            };
            for use_cache in [true, false] {
                let got = generate(&model, &expected.greedy_prompt, &config, use_cache, |_| {});
                assert_eq!(
                    got, expected.greedy,
                    "{backend} {name} (cache {use_cache}): greedy continuation"
                );
            }
        }
    }
}

/// `hf::save` writes the parameter names `GPT2Model` has (no prefix, `wte`/`wpe`, no tied head,
/// no buffers), and what it writes loads back to the same logits.
#[test]
fn saved_checkpoints_use_transformers_names_and_load_back() {
    for name in CASES {
        let dir = fixture(name);
        let expected = read_expected(&dir);
        let device = genpt::device::device("flex").unwrap();
        let model = hf::load(&dir, &device).unwrap();
        let out =
            std::env::temp_dir().join(format!("genpt-gpt2-save-{}-{name}", std::process::id()));
        hf::save(&model, &out).unwrap();
        let saved = hf::read_safetensors(&out.join(hf::WEIGHTS_FILE)).unwrap();
        assert_eq!(
            saved.keys().cloned().collect::<Vec<_>>(),
            expected.hf_parameter_names,
            "{name}: saved names"
        );
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(hf::CONFIG_FILE)).unwrap())
                .unwrap();
        assert_eq!(config["model_type"], "gpt2");
        assert_eq!(config["architectures"][0], "GPT2LMHeadModel");
        let reloaded = hf::load(&out, &device).unwrap();
        let ids = ids_tensor(&expected.ids, &device);
        let logits = to_vec(reloaded.lm_logits(reloaded.forward(ids, false).hidden));
        let worst = max_abs_diff(&logits, &expected.logits);
        assert!(worst <= 1e-4, "{name}: reloaded logits off by {worst:e}");
        std::fs::remove_dir_all(&out).unwrap();
    }
}

/// The reader refuses a GPT-2 checkpoint under a GPT-1 config (and the reverse), naming the
/// foreign tensor, rather than loading half of it.
#[test]
fn a_gpt2_checkpoint_under_a_gpt1_config_is_refused() {
    let dir = fixture("odd3");
    let tmp = std::env::temp_dir().join(format!("genpt-gpt2-mismatch-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::copy(dir.join(hf::WEIGHTS_FILE), tmp.join(hf::WEIGHTS_FILE)).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(hf::CONFIG_FILE)).unwrap()).unwrap();
    config["model_type"] = "openai-gpt".into();
    std::fs::write(tmp.join(hf::CONFIG_FILE), config.to_string()).unwrap();
    let device = genpt::device::device("flex").unwrap();
    let message = hf::load(&tmp, &device).unwrap_err().to_string();
    assert!(
        message.contains("tokens_embed") || message.contains("wte"),
        "{message}"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// A fresh GPT-2 draws its residual projections with std 0.02/√(2·n_layer) and the rest with
/// 0.02, and every parameter (ln_f included) receives a gradient in training mode.
#[test]
fn fresh_gpt2_initialisation_and_gradients() {
    let config = genpt::GptConfig {
        vocab_size: 50,
        n_positions: 8,
        n_embd: 64,
        n_layer: 8,
        n_head: 2,
        ..genpt::GptConfig::gpt2()
    };
    let device = genpt::device::device("flex").unwrap().autodiff();
    let model = genpt::rng::seeded(&device, 5, || Gpt::new(&config, &device));
    let tensors = weights::export(&model);
    let std = |name: &str| {
        let v = &tensors[name].values;
        (v.iter().map(|x| (x * x) as f64).sum::<f64>() / v.len() as f64).sqrt()
    };
    let scaled = 0.02 / 4.0; // √(2·8) = 4
    for layer in 0..config.n_layer {
        for proj in ["attn.c_proj", "mlp.c_proj"] {
            let got = std(&format!("h.{layer}.{proj}.weight"));
            assert!((got / scaled - 1.0).abs() < 0.1, "{proj}: std {got}");
        }
        let got = std(&format!("h.{layer}.attn.c_attn.weight"));
        assert!((got / 0.02 - 1.0).abs() < 0.1, "c_attn: std {got}");
    }
    assert_eq!(tensors["ln_f.weight"].values, vec![1.0; 64]);
    let ids = ids_tensor(&[vec![1, 5, 9, 2, 4, 4, 7, 3]], &device);
    let loss = model.next_token_loss(model.forward(ids.clone(), true).hidden, ids);
    let norms = grad_norms(&model, &loss.backward());
    assert_eq!(norms.len(), tensors.len(), "every parameter has a gradient");
    assert!(norms.values().all(|n| *n > 0.0 && n.is_finite()));
}

/// `genpt score` on a `gpt2` directory prints the next-token log-probabilities that follow from
/// PyTorch's logits (log-softmax of row t at token t+1), on each backend.
#[test]
fn score_cli_on_a_gpt2_directory_matches_the_reference() {
    let dir = fixture("odd3");
    let expected = read_expected(&dir);
    let vocab = expected.logits_shape[2];
    let ids = &expected.ids[0];
    let want: Vec<f64> = (0..ids.len() - 1)
        .map(|t| {
            let row = &expected.logits[t * vocab..(t + 1) * vocab];
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
            let log_sum = row
                .iter()
                .map(|&x| (x as f64 - max).exp())
                .sum::<f64>()
                .ln();
            row[ids[t + 1] as usize] as f64 - max - log_sum
        })
        .collect();
    let list = ids
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    for (backend, _) in backends() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_genpt"))
            .args(["score", "--model", dir.to_str().unwrap(), "--ids", &list])
            .args(["--backend", backend.as_str()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let got: Vec<f64> = json["next_token_logprobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), want.len());
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        println!("{backend}: genpt score max |Δlog p| = {worst:.2e}");
        assert!(
            worst <= 1e-4,
            "{backend}: log-probabilities off by {worst:e}"
        );
    }
}
