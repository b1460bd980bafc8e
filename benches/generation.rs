//! Generation speed with and without the key/value cache.
//!
//!     cargo bench --bench generation -- [--preset gpt1] [--context 64] [--tokens 16]
//!
//! The prompt fills `context - tokens` positions; both paths then generate `tokens` tokens
//! greedily. The cache-free baseline recomputes the whole context for every token.

use std::time::Instant;

use genpt::generate::{generate, SamplingConfig};
use genpt::{Gpt, GptConfig};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.into())
}

fn main() {
    let preset = arg("--preset", "gpt1");
    let context: usize = arg("--context", "64").parse().unwrap();
    let tokens: usize = arg("--tokens", "16").parse().unwrap();
    let config = GptConfig::preset(&preset).expect("known preset");
    let device = genpt::device::device(&arg("--backend", "flex")).unwrap();
    device.seed(1);
    let model = Gpt::new(&config, &device);
    let prompt: Vec<u32> = (0..context - tokens)
        .map(|i| ((i * 7919) % config.vocab_size) as u32)
        .collect();
    let sampling = SamplingConfig {
        temperature: 0.0,
        max_new_tokens: tokens,
        ..Default::default()
    };
    // Warm-up: the first forward pays for page faults and thread start-up; time neither path with it.
    generate(
        &model,
        &prompt,
        &SamplingConfig {
            max_new_tokens: 2,
            ..sampling.clone()
        },
        true,
        |_| {},
    );
    for use_cache in [true, false] {
        let start = Instant::now();
        let mut stamps = Vec::new();
        let out = generate(&model, &prompt, &sampling, use_cache, |_| {
            stamps.push(Instant::now())
        });
        let seconds = start.elapsed().as_secs_f64();
        // The first token includes the prompt's forward pass; the rate counts the others.
        let first = (stamps[0] - start).as_secs_f64();
        let rest = (*stamps.last().unwrap() - stamps[0]).as_secs_f64();
        println!(
            "preset {preset}, context {context}, {}: first token {first:.2} s, then {:.2} tokens/s ({} tokens, {seconds:.2} s in all)",
            if use_cache { "with cache   " } else { "without cache" },
            (out.len() - 1) as f64 / rest,
            out.len(),
        );
    }
}
