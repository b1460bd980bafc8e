//! Load generator for `genpt serve` (experiments/serve_load.sh runs it), loopback only.
//!
//!     cargo bench --bench serve_load -- make-model PRESET OUT_DIR
//!         a randomly initialised model of a preset (throughput does not depend on the weights)
//!     cargo bench --bench serve_load -- load URL PID CLIENTS SECONDS MAX_TOKENS
//!         CLIENTS concurrent clients send completions for SECONDS, each waiting for its answer
//!         before sending the next; then prints throughput, latency percentiles, failures and the
//!         server's resident memory (from /proc/PID/status, once a second) as one JSON line.
//!     cargo bench --bench serve_load -- make-task LM_DIR TOKENIZER OUT_DIR
//!         a two-class task model (random head) on LM_DIR's weights, for /v1/classify
//!     cargo bench --bench serve_load -- soak URL PID CLIENTS SECONDS MAX_QUEUE MAX_BODY OUT_DIR
//!         the reliability soak (issue 25): CLIENTS clients send a mix of valid completions
//!         (plain and streamed), classifications and tokenizations, malformed JSON, oversized
//!         bodies, and streams they drop after the first chunk; every 60 s a burst of
//!         MAX_QUEUE + 32 completions at once. Writes OUT_DIR/soak.json (counts by kind and
//!         status, unexpected outcomes, per-minute latency percentiles, RSS each second) and
//!         OUT_DIR/soak.png.

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

/// What a soak request is, and which statuses are its documented outcomes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Completion,
    Stream,
    Classify,
    Tokenize,
    Malformed,
    Oversized,
    Dropped,
    Burst,
}

impl Kind {
    fn of(n: u64) -> Kind {
        match n % 20 {
            0..=7 => Kind::Completion,
            8..=10 => Kind::Stream,
            11..=13 => Kind::Classify,
            14 => Kind::Tokenize,
            15 | 16 => Kind::Malformed,
            17 => Kind::Oversized,
            _ => Kind::Dropped,
        }
    }
    /// Valid requests must succeed, or be refused with 429 while the queue is full (the
    /// documented answer to a burst over --max-queue, counted apart); the invalid ones must get
    /// their documented 4xx.
    fn expected(self, status: u16) -> bool {
        match self {
            Kind::Malformed => status == 400,
            Kind::Oversized => status == 413,
            Kind::Tokenize => status == 200,
            _ => status == 200 || status == 429,
        }
    }
}

/// One soak request: its kind, when it started (s), latency (s) and status (0: transport
/// error), and what went wrong if it was not a documented outcome.
type Outcome = (Kind, f64, f64, u16, Option<String>);

async fn soak_request(
    client: &reqwest::Client,
    url: &str,
    kind: Kind,
    n: u64,
    max_body: usize,
    start: Instant,
) -> Outcome {
    let prompt = PROMPTS[n as usize % PROMPTS.len()];
    let t = Instant::now();
    let at = start.elapsed().as_secs_f64();
    let post = |path: &str| client.post(format!("{url}{path}"));
    let sent = match kind {
        Kind::Completion | Kind::Burst => {
            post("/v1/completions").json(&json!({"prompt": prompt, "max_tokens": 16, "seed": n}))
        }
        Kind::Stream | Kind::Dropped => post("/v1/completions")
            .json(&json!({"prompt": prompt, "max_tokens": 16, "seed": n, "stream": true})),
        Kind::Classify => post("/v1/classify").json(&json!({"model": "task", "inputs": prompt})),
        Kind::Tokenize => post("/tokenize").json(&json!({"content": prompt})),
        Kind::Malformed => post("/v1/completions")
            .header("content-type", "application/json")
            .body(format!("{{\"prompt\": \"{prompt}\", \"max_tokens\": ")),
        Kind::Oversized => post("/v1/completions")
            .header("content-type", "application/json")
            .body(format!("{{\"prompt\": \"{}\"}}", "a".repeat(max_body + 1))),
    }
    .send()
    .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            // The whole chain: reqwest's top line does not say what the connection saw.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            return (
                kind,
                at,
                t.elapsed().as_secs_f64(),
                0,
                Some(format!("{kind:?}: {message}")),
            );
        }
    };
    let status = response.status().as_u16();
    let mut problem = (!kind.expected(status)).then(|| format!("{kind:?}: status {status}"));
    if status == 200 {
        match kind {
            Kind::Dropped => {
                // Read the first chunk, then hang up mid-stream.
                let mut stream = response.bytes_stream();
                let _ = futures_util::StreamExt::next(&mut stream).await;
                drop(stream);
            }
            Kind::Stream => match response.text().await {
                Ok(text) if text.trim_end().ends_with("data: [DONE]") => {}
                Ok(text) => problem = Some(format!("stream without [DONE]: {:.200}", text)),
                Err(e) => problem = Some(format!("stream: {e}")),
            },
            _ => {
                if let Err(e) = response.bytes().await {
                    problem = Some(format!("{kind:?} body: {e}"));
                }
            }
        }
    } else {
        let _ = response.bytes().await;
    }
    (kind, at, t.elapsed().as_secs_f64(), status, problem)
}

#[allow(clippy::too_many_arguments)]
async fn soak(
    url: String,
    pid: u32,
    clients: usize,
    seconds: u64,
    max_queue: usize,
    max_body: usize,
    out: std::path::PathBuf,
) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        while Instant::now() < until {
            if let Some(r) = rss_kib(pid) {
                samples.push((start.elapsed().as_secs_f64(), r as f64 / 1024.0));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        samples
    });
    let mut tasks: Vec<tokio::task::JoinHandle<Vec<Outcome>>> = (0..clients)
        .map(|c| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                let mut n = c as u64 * 7;
                while Instant::now() < until {
                    outcomes
                        .push(soak_request(&client, &url, Kind::of(n), n, max_body, start).await);
                    n += 1;
                }
                outcomes
            })
        })
        .collect();
    // Bursts over the queue, once a minute (the first after 30 s).
    let bursts = {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut next = start + Duration::from_secs(30);
            while next < until {
                tokio::time::sleep_until(next.into()).await;
                let burst: Vec<_> = (0..max_queue + 32)
                    .map(|i| {
                        let (client, url) = (client.clone(), url.clone());
                        tokio::spawn(async move {
                            soak_request(&client, &url, Kind::Burst, i as u64, max_body, start)
                                .await
                        })
                    })
                    .collect();
                for b in burst {
                    outcomes.push(b.await.expect("burst request"));
                }
                next += Duration::from_secs(60);
            }
            outcomes
        })
    };
    tasks.push(bursts);
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(t.await?);
    }
    let rss = sampler.await?;

    let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
    for (kind, _, _, status, _) in &outcomes {
        *counts.entry(format!("{kind:?} {status}")).or_default() += 1;
    }
    let problems: Vec<&String> = outcomes.iter().filter_map(|o| o.4.as_ref()).collect();
    let valid = |k: &Kind| !matches!(k, Kind::Malformed | Kind::Oversized);
    let valid_failed = outcomes
        .iter()
        .filter(|(k, _, _, _, p)| valid(k) && p.is_some())
        .count();
    let refused = outcomes
        .iter()
        .filter(|(k, _, _, s, _)| valid(k) && *s == 429)
        .count();
    // Latency of the steady clients' plain completions, per minute.
    let minutes = seconds.div_ceil(60) as usize;
    let mut by_minute = vec![Vec::new(); minutes];
    for (kind, at, latency, status, _) in &outcomes {
        if *kind == Kind::Completion && *status == 200 {
            by_minute[((*at / 60.0) as usize).min(minutes - 1)].push(*latency);
        }
    }
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    for (m, l) in by_minute.iter_mut().enumerate() {
        l.sort_by(f64::total_cmp);
        p50.push(((m + 1) as f64, percentile(l, 50.0)));
        p99.push(((m + 1) as f64, percentile(l, 99.0)));
    }
    // RSS after warm-up (the first 5 minutes, or the first tenth of a short run).
    let warm = (seconds as f64 / 10.0).min(300.0);
    let after: Vec<f64> = rss
        .iter()
        .filter(|(t, _)| *t >= warm)
        .map(|(_, r)| *r)
        .collect();
    let (lo, hi) = after
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &r| (a.min(r), b.max(r)));
    let report = json!({
        "seconds": start.elapsed().as_secs_f64(),
        "clients": clients,
        "max_queue": max_queue,
        "requests": outcomes.len(),
        "counts": counts,
        "valid_failed": valid_failed,
        "valid_refused_429": refused,
        "unexpected": problems.len(),
        "unexpected_first": problems.iter().take(10).collect::<Vec<_>>(),
        "completion_latency_p50_s_by_minute": p50.iter().map(|p| p.1).collect::<Vec<_>>(),
        "completion_latency_p99_s_by_minute": p99.iter().map(|p| p.1).collect::<Vec<_>>(),
        "rss_mib_after_warmup_min": lo,
        "rss_mib_after_warmup_max": hi,
        "rss_growth_after_warmup": (hi - lo) / lo,
        "rss_mib_series": rss.iter().map(|(_, r)| r.round()).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("soak.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let series = |name: &str, points: Vec<(f64, f64)>| genpt::plot::Series {
        name: name.into(),
        points,
    };
    genpt::plot::plot_panels(
        &out.join("soak.png"),
        &[
            (
                "completion latency (s)",
                "minute",
                vec![series("p50", p50), series("p99", p99)],
            ),
            (
                "server RSS (MiB)",
                "minute",
                vec![series(
                    "RSS",
                    rss.iter().map(|(t, r)| (t / 60.0, *r)).collect(),
                )],
            ),
        ],
    )
    .map_err(anyhow::Error::msg)?;
    Ok(report)
}

/// A two-class classifier on `lm`'s weights (special rows added, random head) with a task
/// description and `tokenizer`, as `genpt finetune` would save it.
fn make_task(lm: &str, tokenizer: &str, out: &str) -> anyhow::Result<()> {
    use genpt::finetune::{classifier::new_classifier, Pooling};
    use genpt_tasks::{CustomKind, InputForm, TaskInfo};
    let device = genpt::device::device("flex").map_err(anyhow::Error::msg)?;
    let gpt = genpt::weights::hf::load(std::path::Path::new(lm), &device)?;
    let gpt = genpt::surgery::add_special_rows(gpt, 3, 1, &device);
    let classifier = new_classifier(gpt, Pooling::Single, 2, 0.0, &device);
    let out = std::path::Path::new(out);
    genpt::finetune::save(&classifier, out)?;
    let labels = vec!["negative".to_string(), "positive".to_string()];
    let info = TaskInfo::custom(
        CustomKind::Classification,
        InputForm::Text,
        labels,
        None,
        Default::default(),
    );
    genpt::finetune::task_data::attach(out, &info, std::path::Path::new(tokenizer))?;
    println!("{}: a two-class task model", out.display());
    Ok(())
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
        ["make-task", lm, tokenizer, out] => make_task(lm, tokenizer, out)?,
        ["soak", url, pid, clients, seconds, max_queue, max_body, out] => {
            let runtime = tokio::runtime::Runtime::new()?;
            let report = runtime.block_on(soak(
                url.to_string(),
                pid.parse()?,
                clients.parse()?,
                seconds.parse()?,
                max_queue.parse()?,
                max_body.parse()?,
                out.into(),
            ))?;
            let mut brief = report.clone();
            brief.as_object_mut().unwrap().remove("rss_mib_series");
            println!("{brief}");
        }
        // `cargo bench` without arguments (e.g. `cargo bench --workspace`): nothing to measure.
        [] => eprintln!("serve_load: see experiments/serve_load.sh"),
        other => anyhow::bail!("usage: make-model PRESET OUT | make-task LM TOKENIZER OUT | load URL PID CLIENTS SECONDS MAX_TOKENS | soak URL PID CLIENTS SECONDS MAX_QUEUE MAX_BODY OUT (got {other:?})"),
    }
    Ok(())
}
