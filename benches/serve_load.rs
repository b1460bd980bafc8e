//! Load generator for `genpt serve` (experiments/serve_load.sh runs it), loopback only.
//!
//!     cargo bench --bench serve_load -- make-model PRESET OUT_DIR
//!         a randomly initialised model of a preset (throughput does not depend on the weights)
//!     cargo bench --bench serve_load -- load URL PID CLIENTS SECONDS MAX_TOKENS
//!         CLIENTS concurrent clients send completions for SECONDS, each waiting for its answer
//!         before sending the next; then prints throughput, latency percentiles, failures and the
//!         server's resident memory (from /proc/PID/status, once a second) as one JSON line.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

const PROMPTS: &[&str] = &[
    "the old man looked at the sea and",
    "once upon a time there was a little girl who",
    "in the morning the village was quiet , and",
    "she opened the letter and read it twice before",
    "the ship sailed north for many days until",
    "he had never seen such a large house , with",
    "after dinner the children gathered around the fire to",
    "it was the best of times , it was",
];

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn load(url: String, pid: u32, clients: usize, seconds: u64, max_tokens: usize) -> Value {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        loop {
            samples.push((start.elapsed().as_secs_f64(), rss_kib(pid)));
            if Instant::now() >= until {
                return samples;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let client = client.clone();
            let url = format!("{url}/v1/completions");
            tokio::spawn(async move {
                // (latency seconds, completion tokens) per request; failures counted apart.
                let mut done = Vec::new();
                let mut failures = Vec::new();
                let mut n = 0u64;
                while Instant::now() < until {
                    let body = json!({
                        "prompt": PROMPTS[(c + n as usize) % PROMPTS.len()],
                        "max_tokens": max_tokens,
                        "temperature": 0.8,
                        "top_k": 40,
                        "seed": c as u64 * 1000 + n,
                    });
                    n += 1;
                    let t = Instant::now();
                    match client.post(&url).json(&body).send().await {
                        Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                            Ok(v) => done.push((
                                t.elapsed().as_secs_f64(),
                                v["usage"]["completion_tokens"].as_u64().unwrap_or(0),
                            )),
                            Err(e) => failures.push(e.to_string()),
                        },
                        Ok(r) => failures.push(format!("status {}", r.status())),
                        Err(e) => failures.push(e.to_string()),
                    }
                }
                (done, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut tokens = 0u64;
    let mut failures = Vec::new();
    for w in workers {
        let (done, failed) = w.await.expect("client task");
        for (latency, n) in done {
            latencies.push(latency);
            tokens += n;
        }
        failures.extend(failed);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rss = sampler.await.expect("sampler");
    latencies.sort_by(f64::total_cmp);
    let rss_mib: Vec<f64> = rss
        .iter()
        .filter_map(|(_, r)| r.map(|k| k as f64 / 1024.0))
        .collect();
    json!({
        "clients": clients,
        "seconds": elapsed,
        "max_tokens": max_tokens,
        "requests": latencies.len(),
        "failed": failures.len(),
        "failures": failures.iter().take(5).collect::<Vec<_>>(),
        "tokens": tokens,
        "tokens_per_second": tokens as f64 / elapsed,
        "requests_per_second": latencies.len() as f64 / elapsed,
        "latency_p50_s": percentile(&latencies, 50.0),
        "latency_p99_s": percentile(&latencies, 99.0),
        "rss_mib_first": rss_mib.first(),
        "rss_mib_max": rss_mib.iter().copied().fold(f64::NAN, f64::max),
        "rss_mib_last": rss_mib.last(),
        "rss_mib_series": rss_mib.iter().map(|m| m.round()).collect::<Vec<_>>(),
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["make-model", preset, out] => {
            let config = genpt::GptConfig::preset(preset)
                .ok_or_else(|| anyhow::anyhow!("unknown preset {preset}"))?;
            let device = genpt::device::device("flex").map_err(anyhow::Error::msg)?;
            device.seed(1);
            genpt::weights::hf::save(&genpt::Gpt::new(&config, &device), std::path::Path::new(out))?;
            println!("{out}: random {preset} ({} parameters)", config.parameter_count());
        }
        ["load", url, pid, clients, seconds, max_tokens] => {
            let runtime = tokio::runtime::Runtime::new()?;
            let report = runtime.block_on(load(
                url.to_string(),
                pid.parse()?,
                clients.parse()?,
                seconds.parse()?,
                max_tokens.parse()?,
            ));
            println!("{report}");
        }
        // `cargo bench` without arguments (e.g. `cargo bench --workspace`): nothing to measure.
        [] => eprintln!("serve_load: see experiments/serve_load.sh"),
        other => anyhow::bail!("usage: make-model PRESET OUT | load URL PID CLIENTS SECONDS MAX_TOKENS (got {other:?})"),
    }
    Ok(())
}
