//! Forward and training throughput (tokens/s) of a model preset on a CPU backend.
//!
//!     cargo bench --bench throughput -- [--preset gpt1] [--batch 4] [--time 512] [--steps 3] [--backend flex]
//!
//! A training step is what `genpt pretrain` does per update: forward with dropout, mean
//! next-token loss, backward, gradient collection, global-norm clipping and the Adam update.
//! Forward is eval mode without autodiff. The first iteration of each is a warm-up, not timed.

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
    println!(
        "preset {preset} ({:.1}M parameters), backend {backend}, batch {batch} × {time} tokens, threads {}",
        config.parameter_count() as f64 / 1e6,
        rayon::current_num_threads()
    );

    // Forward, eval mode.
    {
        device.seed(1);
        let model = Gpt::new(&config, &device);
        let input =
            Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [batch, time]), &device);
        let mut times = Vec::new();
        for i in 0..=steps {
            let start = Instant::now();
            let logits = model.lm_logits(model.forward(input.clone(), false).hidden);
            let _ = logits.sum().into_scalar::<f32>();
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
    {
        let device = device.autodiff();
        device.seed(1);
        let mut model = Gpt::new(&config, &device);
        let mut adam = OpenAiAdam::new(AdamConfig::default());
        let all = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [batch, time]), &device);
        let mut times = Vec::new();
        for i in 0..=steps {
            let start = Instant::now();
            let inputs = all.clone().narrow(1, 0, time - 1);
            let targets = all.clone().narrow(1, 1, time - 1);
            let logits = model.lm_logits(model.forward(inputs, true).hidden);
            let loss = genpt::loss::target_logprobs(logits, targets).mean().neg();
            let _ = loss.clone().into_scalar::<f32>();
            let mut grads = NamedGrads::default();
            grads.accumulate(&model, loss.backward());
            grads.clip_global_norm(1.0);
            model = adam.update(model, &grads, 1.0);
            let _ = model.h[0].ln_1.weight.val().sum().into_scalar::<f32>();
            if i > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        println!(
            "training: {:>8.0} tokens/s (mean of {steps}: {mean:.3} s/step)",
            tokens / mean
        );
    }
}
