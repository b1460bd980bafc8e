//! Generation speed with and without the key/value cache, against the memory-bandwidth bound,
//! and batched.
//!
//!     cargo bench --bench generation -- [--preset gpt1] [--context 64] [--tokens 16] [--batch 1,4,8] [--precision bf16]
//!
//! The prompt fills `context - tokens` positions; both paths then generate `tokens` tokens
//! greedily. The cache-free baseline recomputes the whole context for every token.
//!
//! One decoding step with the cache must read every weight once (and the cached keys and
//! values): tokens/s can be no more than this machine's read bandwidth (measured here, 2
//! threads summing a 1 GiB buffer) divided by those bytes. `--batch` then times
//! `generate_batch` with that many prompts decoded together as `genpt serve` batches them (each
//! prompt prefilled alone, then one batched decoding step for all, attention per sequence),
//! which reads the weights once per step for the whole batch.
//!
//! `--precision bf16` packs the linear layers' and the output matrix's weights in bf16
//! (`Gpt::with_bf16_weights`): a step reads half the weight bytes, and the bound is computed
//! for those bytes.

use std::time::Instant;

use genpt::generate::{generate, generate_batch, SamplingConfig};
use genpt::{Gpt, GptConfig};
use rayon::prelude::*;

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
    let precision: genpt::precision::Precision = arg("--precision", "fp32").parse().unwrap();
    let model = precision.for_inference(Gpt::new(&config, &device)).unwrap();
    println!("precision {precision}");
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
    let bandwidth = read_bandwidth();
    let bytes = bytes_per_step(&config, context, precision);
    let bound = bandwidth / bytes;
    println!(
        "read bandwidth {:.1} GB/s; {:.0} MB per cached step at context {context}: at most {bound:.1} tokens/s",
        bandwidth / 1e9,
        bytes / 1e6
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
        if use_cache {
            println!(
                "    = {:.0}% of the bandwidth bound",
                100.0 * (out.len() - 1) as f64 / rest / bound
            );
        }
    }
    for batch in arg("--batch", "1,4,8")
        .split(',')
        .map(|b| b.parse::<usize>().unwrap())
    {
        let prompts: Vec<Vec<u32>> = (0..batch)
            .map(|b| {
                // Prompts of different lengths, as a server sees them.
                let len = (context - tokens).saturating_sub(b % 4).max(1);
                (0..len)
                    .map(|i| ((i * 7919 + b * 31) % config.vocab_size) as u32)
                    .collect()
            })
            .collect();
        let start = Instant::now();
        let out = generate_batch(&model, &prompts, &sampling);
        let seconds = start.elapsed().as_secs_f64();
        let generated: usize = out.iter().map(|o| o.len()).sum();
        println!(
            "batched generation, {batch} prompts: {:.1} tokens/s in all ({generated} tokens in {seconds:.2} s, prompt passes included)",
            generated as f64 / seconds
        );
    }
}

/// Read bandwidth in bytes/s: the best of five parallel sums over a 1 GiB buffer.
fn read_bandwidth() -> f64 {
    let data = vec![1.0f32; 1 << 28];
    let mut best = 0.0f64;
    for _ in 0..5 {
        let start = Instant::now();
        // 16 partial sums per chunk, so that the loop is vectorised and limited by memory,
        // not by one chain of dependent additions.
        let sum: f32 = data
            .par_chunks(1 << 16)
            .map(|c| {
                let mut lanes = [0f32; 16];
                for block in c.chunks_exact(16) {
                    for (l, &v) in lanes.iter_mut().zip(block) {
                        *l += v;
                    }
                }
                lanes.iter().sum::<f32>()
            })
            .sum();
        let seconds = start.elapsed().as_secs_f64();
        assert!(sum > 0.0);
        best = best.max((data.len() * 4) as f64 / seconds);
    }
    best
}

/// Bytes one cached decoding step reads: every weight except the unused position rows, and
/// the keys and values (fp32) of `context` cached positions. In bf16 the linear layers' weights
/// and the output matrix are read in 2 bytes each, biases and LayerNorms in 4.
fn bytes_per_step(
    config: &GptConfig,
    context: usize,
    precision: genpt::precision::Precision,
) -> f64 {
    let d = config.n_embd;
    let weights = config.parameter_count() - (config.n_positions - 1) * d;
    let kv = context * config.n_layer * 2 * d;
    let packed = match precision {
        genpt::precision::Precision::Fp32 => 0,
        genpt::precision::Precision::Bf16 => {
            config.n_layer * (4 * d * d + 2 * d * config.ffn_width()) + config.vocab_size * d
        }
    };
    ((weights - packed + kv) * 4 + packed * 2) as f64
}
