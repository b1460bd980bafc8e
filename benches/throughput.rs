//! Forward and training throughput (tokens/s) of a model preset on a CPU backend.
//!
//!     cargo bench --bench throughput -- [--preset gpt1] [--batch 4] [--time 512] [--steps 3] [--backend flex] [--precision bf16]
//!     cargo bench --bench throughput -- --finetune 0.5 [--preset mini] [--batch 8]
//!
//! A training step is what `genpt pretrain` does per update: forward with dropout, mean
//! next-token loss, backward, gradient collection, global-norm clipping and the Adam update.
//! Forward is eval mode without autodiff, up to every next token's log-probability (what scoring
//! and zero-shot do). The first iteration of each is a warm-up, not timed. `GENPT_FUSED=0`
//! runs the composed reference path instead of the fused kernels.
//!
//! `--finetune λ` times a fine-tuning update instead: a classification batch of `batch`
//! sequences (the classify token last), head loss plus λ times the auxiliary LM loss, backward,
//! clipping and the Adam step, as `genpt finetune` does it.

use std::time::Instant;

use burn::tensor::{Int, Tensor, TensorData};
use genpt::train::{AdamConfig, NamedGrads, OpenAiAdam};
use genpt::{Gpt, GptConfig};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn main() {
    if std::env::var_os("GENPT_PURGE").is_none() {
        genpt::retain_freed_memory();
    }
    let preset = arg("--preset", "small");
    let backend = arg("--backend", "flex");
    let steps: usize = arg("--steps", "3").parse().unwrap();
    let mut config = GptConfig::preset(&preset).expect("known preset");
    let batch: usize = arg("--batch", "4").parse().unwrap();
    let time: usize = arg("--time", &config.n_positions.to_string())
        .parse()
        .unwrap();
    config.n_positions = config.n_positions.max(time);
    let device = genpt::device::device(&backend).unwrap();
    let ids: Vec<i64> = (0..batch * time)
        .map(|i| ((i * 7919) % config.vocab_size) as i64)
        .collect();
    let tokens = (batch * time) as f64;
    let precision: genpt::precision::Precision = arg("--precision", "fp32").parse().unwrap();
    println!(
        "preset {preset} ({:.1}M parameters), backend {backend}, precision {precision}, batch {batch} × {time} tokens, threads {}, fused kernels {}",
        config.parameter_count() as f64 / 1e6,
        rayon::current_num_threads(),
        if genpt::kernels::fused_on(&device) { "on" } else { "off" },
    );

    if let Some(lm_coef) = std::env::args()
        .position(|a| a == "--finetune")
        .map(|_| arg("--finetune", "0.5").parse::<f64>().unwrap())
    {
        finetune_step(&config, &device, batch, time, steps, lm_coef, precision);
        return;
    }

    // `--only forward` or `--only training` runs one of the two (for profiling).
    let only = arg("--only", "both");

    // Forward, eval mode.
    if only != "training" {
        device.seed(1);
        // bf16: the weights packed once, as `genpt score --precision bf16` loads them.
        let model = precision.for_inference(Gpt::new(&config, &device)).unwrap();
        let input =
            Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [batch, time]), &device);
        let mut times = Vec::new();
        for i in 0..=steps {
            let start = Instant::now();
            let hidden = model.forward(input.clone(), false).hidden;
            let logprobs = model.next_token_logprobs(hidden, input.clone());
            let _ = logprobs.sum().into_scalar::<f32>();
            if i > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        let best = times.iter().copied().fold(f64::MAX, f64::min);
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        println!(
            "forward:  {:>8.0} tokens/s (mean of {steps}: {mean:.3} s/batch, best {best:.3} s)",
            tokens / mean
        );
    }

    // Training step.
    if only != "forward" {
        let device = device.autodiff();
        device.seed(1);
        let mut model = Gpt::new(&config, &device);
        let mut adam = OpenAiAdam::new(AdamConfig::default());
        let all = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [batch, time]), &device);
        let mut times = Vec::new();
        // Seconds per phase, summed over the timed steps: forward and loss, backward (with the
        // gradients gathered by name), clipping, the Adam update.
        let mut phases = [0f64; 4];
        for i in 0..=steps {
            let start = Instant::now();
            let inputs = all.clone().narrow(1, 0, time - 1);
            let targets = all.clone().narrow(1, 1, time - 1);
            let loss = precision.lm_loss_mean(&model, inputs, targets, true);
            let _ = loss.clone().into_scalar::<f32>();
            let forward = Instant::now();
            let mut grads = NamedGrads::default();
            grads.accumulate(&model, loss.backward());
            let backward = Instant::now();
            grads.clip_global_norm(1.0);
            let clip = Instant::now();
            model = adam.update(model, grads, 1.0);
            let _ = model.h[0].ln_1.weight.val().sum().into_scalar::<f32>();
            if i > 0 {
                times.push(start.elapsed().as_secs_f64());
                for (phase, (from, to)) in phases.iter_mut().zip([
                    (start, forward),
                    (forward, backward),
                    (backward, clip),
                    (clip, Instant::now()),
                ]) {
                    *phase += (to - from).as_secs_f64();
                }
            }
        }
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        println!(
            "training: {:>8.0} tokens/s (mean of {steps}: {mean:.3} s/step)",
            tokens / mean
        );
        let per_step = |s: f64| s / steps as f64;
        println!(
            "    per step: forward {:.3} s, backward {:.3} s, clipping {:.3} s, Adam {:.3} s",
            per_step(phases[0]),
            per_step(phases[1]),
            per_step(phases[2]),
            per_step(phases[3])
        );
    }
}

/// Times one fine-tuning update (see the module comment).
fn finetune_step(
    config: &GptConfig,
    device: &burn::tensor::Device,
    batch: usize,
    time: usize,
    steps: usize,
    lm_coef: f64,
    precision: genpt::precision::Precision,
) {
    use genpt::finetune::classifier::new_classifier;
    use genpt::finetune::head::Pooling;
    use genpt::finetune::{update_gradients, EncodedExample, FinetuneConfig, Target};
    use genpt::surgery::add_special_rows;
    use genpt::train::{take_step, Schedule};

    let device = device.clone().autodiff();
    device.seed(1);
    let gpt = add_special_rows(Gpt::new(config, &device), 3, 1, &device);
    let classify = (config.vocab_size + 2) as u32;
    let mut model = new_classifier(gpt, Pooling::Single, 2, 0.1, &device);
    let examples: Vec<EncodedExample> = (0..batch)
        .map(|b| {
            let mut seq: Vec<u32> = (0..time - 1)
                .map(|t| ((t * 7919 + b * 104_729) % config.vocab_size) as u32)
                .collect();
            seq.push(classify);
            EncodedExample {
                sequences: vec![seq],
                classify_at: vec![time - 1],
                target: Some(Target::Class(b % 2)),
            }
        })
        .collect();
    let refs: Vec<&EncodedExample> = examples.iter().collect();
    let ft = FinetuneConfig {
        batch_size: batch,
        micro_batch: batch,
        lm_coef,
        precision,
        ..FinetuneConfig::default()
    };
    let mut adam = OpenAiAdam::new(AdamConfig::default());
    let mut times = Vec::new();
    for i in 0..=steps {
        let start = Instant::now();
        let g = update_gradients(&model, &refs, &ft, i as u64, &device).unwrap();
        let factor = Schedule::WarmupLinear.at_step(i as u64, 100, 1);
        model = take_step(model, &mut adam, g.grads, ft.max_grad_norm, factor).0;
        let _ = model.head.bias.val().sum().into_scalar::<f32>();
        if i > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "finetune (lm_coef {lm_coef}, {precision}): {:>8.0} tokens/s (mean of {steps}: {mean:.3} s/update)",
        (batch * time) as f64 / mean
    );
}
