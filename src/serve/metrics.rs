//! The server's Prometheus metrics, rendered as the text exposition format at `GET /metrics`.
//! Every name starts with `genpt_`. Written by hand rather than with a metrics crate: a few
//! counters, gauges and fixed-bucket histograms are all the server keeps.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

/// A histogram with fixed upper bounds (cumulative buckets are computed when rendered).
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| value <= b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum);
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count);
    }
}

const LATENCY_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Everything `/metrics` reports. Shared by the HTTP handlers and the model worker.
#[derive(Debug)]
pub struct Metrics {
    /// (endpoint, status) → requests answered.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// endpoint → time until the response (its headers, for a stream) was ready.
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// Whole generations, from enqueueing to the last token.
    generation_seconds: Mutex<Histogram>,
    time_to_first_token: Mutex<Histogram>,
    decode_batch: Mutex<Histogram>,
    classify_batch: Mutex<Histogram>,
    pub tokens_generated: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub generations_cancelled: AtomicU64,
    pub queue_rejected: AtomicU64,
    pub worker_panics: AtomicU64,
    /// Jobs waiting in the queue for the worker.
    pub queue_depth: AtomicI64,
    /// Generations being decoded.
    pub active_sequences: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Mutex::default(),
            latency: Mutex::default(),
            generation_seconds: Mutex::new(Histogram::new(LATENCY_BOUNDS)),
            time_to_first_token: Mutex::new(Histogram::new(LATENCY_BOUNDS)),
            decode_batch: Mutex::new(Histogram::new(BATCH_BOUNDS)),
            classify_batch: Mutex::new(Histogram::new(BATCH_BOUNDS)),
            tokens_generated: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            generations_cancelled: AtomicU64::new(0),
            queue_rejected: AtomicU64::new(0),
            worker_panics: AtomicU64::new(0),
            queue_depth: AtomicI64::new(0),
            active_sequences: AtomicI64::new(0),
        }
    }
}

/// A poisoned lock only means a panic elsewhere while counting; the counts are still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    pub fn record_request(&self, endpoint: &str, status: u16, seconds: f64) {
        *lock(&self.requests)
            .entry((endpoint.to_string(), status))
            .or_default() += 1;
        lock(&self.latency)
            .entry(endpoint.to_string())
            .or_insert_with(|| Histogram::new(LATENCY_BOUNDS))
            .observe(seconds);
    }

    pub fn observe_generation(&self, seconds: f64) {
        lock(&self.generation_seconds).observe(seconds);
    }

    pub fn observe_first_token(&self, seconds: f64) {
        lock(&self.time_to_first_token).observe(seconds);
    }

    pub fn observe_decode_batch(&self, size: usize) {
        lock(&self.decode_batch).observe(size as f64);
    }

    pub fn observe_classify_batch(&self, size: usize) {
        lock(&self.classify_batch).observe(size as f64);
    }

    /// The Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        header(
            &mut out,
            "genpt_requests_total",
            "counter",
            "HTTP requests answered, by endpoint and status.",
        );
        for ((endpoint, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "genpt_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
            );
        }
        header(
            &mut out,
            "genpt_request_duration_seconds",
            "histogram",
            "Time until the response (the headers, for a stream) was ready, by endpoint.",
        );
        for (endpoint, h) in lock(&self.latency).iter() {
            h.render(
                &mut out,
                "genpt_request_duration_seconds",
                &format!("endpoint=\"{endpoint}\""),
            );
        }
        let histograms: [(&str, &str, &Mutex<Histogram>); 4] = [
            (
                "genpt_generation_duration_seconds",
                "Generations from enqueueing to their last token.",
                &self.generation_seconds,
            ),
            (
                "genpt_time_to_first_token_seconds",
                "From enqueueing to the first generated token.",
                &self.time_to_first_token,
            ),
            (
                "genpt_decode_batch_size",
                "Sequences sharing one decoding step's forward pass.",
                &self.decode_batch,
            ),
            (
                "genpt_classify_batch_size",
                "Classification requests sharing one forward pass.",
                &self.classify_batch,
            ),
        ];
        for (name, help, h) in histograms {
            header(&mut out, name, "histogram", help);
            lock(h).render(&mut out, name, "");
        }
        let counters: [(&str, &str, &AtomicU64); 5] = [
            (
                "genpt_tokens_generated_total",
                "Tokens generated.",
                &self.tokens_generated,
            ),
            (
                "genpt_prompt_tokens_total",
                "Prompt tokens prefilled.",
                &self.prompt_tokens,
            ),
            (
                "genpt_generations_cancelled_total",
                "Generations stopped because the client went away.",
                &self.generations_cancelled,
            ),
            (
                "genpt_queue_rejected_total",
                "Requests refused with 429 because the queue was full.",
                &self.queue_rejected,
            ),
            (
                "genpt_worker_panics_total",
                "Model steps that panicked (their requests got a 500).",
                &self.worker_panics,
            ),
        ];
        for (name, help, value) in counters {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        let gauges: [(&str, &str, &AtomicI64); 2] = [
            (
                "genpt_queue_depth",
                "Requests waiting for the model worker.",
                &self.queue_depth,
            ),
            (
                "genpt_active_sequences",
                "Generations being decoded.",
                &self.active_sequences,
            ),
        ];
        for (name, help, value) in gauges {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}
