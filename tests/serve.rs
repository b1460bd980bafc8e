//! `genpt serve` over real HTTP on loopback, against tiny random models built here: every
//! endpoint, streaming, bad inputs, overload, disconnects, SIGTERM, and batched decoding checked
//! against generating alone (`generate::generate`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use burn::tensor::{Int, Tensor, TensorData};
use genpt::finetune::model::new_classifier;
use genpt::finetune::Pooling;
use genpt::finetune::{self as ft, Prediction};
use genpt::generate::{generate, SamplingConfig};
use genpt::model::surgery::add_special_rows;
use genpt::model::KvCache;
use genpt::serve::{AppState, Limits, ServeConfig};
use genpt::{Gpt, GptConfig};
use genpt_tasks::{CustomKind, InputForm, TaskInfo};
use serde_json::{json, Value};

const SENTENCES: &[&str] = &[
    "the cat sat on the mat and looked at the dog.",
    "the dog ran in the park with a red ball.",
    "a bird sang in the tall green tree all morning.",
    "we walked to the river and saw a small boat.",
    "she reads a book about the sea every night.",
    "the children played a game in the garden after school.",
    "he said that the movie was good, but the book was better.",
    "it is a great day for a walk in the sun.",
];

/// Model directories shared by every test: a tokenizer, a language model with that tokenizer's
/// files beside it, and fine-tuned classifiers (text and pair) with task.json and tokenizer.
struct Fixture {
    dir: PathBuf,
    lm: PathBuf,
    text_task: PathBuf,
    pair_task: PathBuf,
}

fn device() -> burn::tensor::Device {
    genpt::device::device("flex").unwrap()
}

fn tiny_config(vocab_size: usize) -> GptConfig {
    let mut config = GptConfig {
        vocab_size,
        n_special: 0,
        n_positions: 64,
        n_embd: 32,
        n_layer: 2,
        n_head: 4,
        ..GptConfig::gpt1()
    };
    // Peaked distributions, so that greedy paths are informative.
    config.initializer_range = 0.3;
    config
}

fn copy_vocab(from: &Path, to: &Path) {
    let (encoder, merges) = genpt_tokenizer::vocab::find_files(from).unwrap();
    for file in [encoder, merges] {
        std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("genpt-serve-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tokenizer_dir = dir.join("tokenizer");
        let counts = genpt_tokenizer::train::count_words(SENTENCES.to_vec());
        let (encoder, merges) = genpt_tokenizer::train_bpe(&counts, 150, &|_| {});
        genpt_tokenizer::vocab::save(&tokenizer_dir, &encoder, &merges).unwrap();
        let vocab = genpt_tokenizer::Tokenizer::from_dir(&tokenizer_dir)
            .unwrap()
            .vocab_size();
        let device = device();
        device.seed(7);
        let lm = dir.join("lm");
        genpt::weights::hf::save(&Gpt::new(&tiny_config(vocab), &device), &lm).unwrap();
        copy_vocab(&tokenizer_dir, &lm);
        let task = |name: &str, kind: CustomKind, input: InputForm, pooling: Pooling| {
            let gpt = add_special_rows(Gpt::new(&tiny_config(vocab), &device), 3, 1, &device);
            let mut classifier = new_classifier(gpt, pooling, 2, 0.0, &device);
            // A head large enough that the probabilities are far from uniform.
            classifier.head.weight =
                burn::module::Param::from_tensor(classifier.head.weight.val().mul_scalar(50.0));
            let out = dir.join(name);
            ft::save(&classifier, &out).unwrap();
            let labels = vec!["negative".to_string(), "positive".to_string()];
            // task.json and the tokenizer files, as `genpt finetune` leaves them.
            let info = TaskInfo::custom(kind, input, labels, None, Default::default());
            genpt::finetune::task_data::attach(&out, &info, &tokenizer_dir).unwrap();
            out
        };
        let text_task = task(
            "sentiment",
            CustomKind::Classification,
            InputForm::Text,
            Pooling::Single,
        );
        let pair_task = task(
            "nli",
            CustomKind::Entailment,
            InputForm::Pair,
            Pooling::Single,
        );
        Fixture {
            dir,
            lm,
            text_task,
            pair_task,
        }
    })
}

fn config() -> ServeConfig {
    let f = fixture();
    ServeConfig {
        model: f.lm.clone(),
        tokenizer: None,
        model_name: "tiny".into(),
        task_models: vec![
            ("sentiment".into(), f.text_task.clone()),
            ("nli".into(), f.pair_task.clone()),
        ],
        backend: "flex".into(),
        limits: Limits {
            max_batch: 8,
            max_queue: 64,
            max_prompt_tokens: None,
            max_tokens: 64,
            max_body_bytes: 1 << 20,
        },
        step_delay: Duration::ZERO,
        api_key: None,
    }
}

/// A server on a free loopback port, shut down gracefully when dropped.
struct Server {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    client: reqwest::Client,
}

impl Server {
    async fn start(config: ServeConfig) -> Self {
        let state = AppState::load(&config).expect("the server starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(genpt::serve::serve(listener, state, async {
            let _ = rx.await;
        }));
        Self {
            addr,
            shutdown: Some(tx),
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not a JSON answer ({e}): {text:?}"));
        (status, value)
    }

    /// A POST announcing a body of `length` bytes with `Expect: 100-continue`, as curl does for
    /// large bodies, over a raw connection: the server refuses it from the headers, and the
    /// client sends no body. (reqwest sends the body regardless, and the server's early 413 and
    /// close then race the client's write: a broken pipe on the client, not a server fault.)
    async fn post_oversized(&self, path: &str, length: usize) -> (u16, Value) {
        let (addr, path) = (self.addr, path.to_string());
        let raw = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: {length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).unwrap();
            let mut raw = Vec::new();
            stream
                .read_to_end(&mut raw)
                .expect("the server answers from the headers");
            raw
        })
        .await
        .unwrap();
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let status = raw
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {raw:?}"));
        let body = &raw[raw.find("\r\n\r\n").map_or(raw.len(), |i| i + 4)..];
        let json = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(0)];
        let value =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {raw:?}"));
        (status, value)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The value of one metric line (exact name with labels).
    async fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
            .parse()
            .unwrap()
    }

    async fn wait_for_metric(&self, name: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.metric(name).await;
            if ok(value) {
                return value;
            }
            assert!(Instant::now() < deadline, "{name} stayed at {value}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn tokenizer() -> genpt_tokenizer::Tokenizer {
    genpt_tokenizer::Tokenizer::from_dir(&fixture().lm).unwrap()
}

fn load_lm() -> Gpt {
    genpt::weights::load_model(&fixture().lm, &Default::default(), &device()).unwrap()
}

/// transformers' `clean_up_tokenization` (tokenization_utils_base.py), transcribed as its
/// chain of replaces: what GPT-1 completions read like by default.
fn reference_clean_up(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

/// The completion text `generate::generate` gives for `prompt` alone: its pieces joined, then
/// cleaned up (the fixture's tokenizer is GPT-1's kind).
fn reference_text(model: &Gpt, prompt: &str, sampling: &SamplingConfig) -> String {
    let tokenizer = tokenizer();
    let ids = generate(model, &tokenizer.encode(prompt), sampling, true, |_| {});
    let raw: String = ids
        .iter()
        .map(|&id| genpt::serve::text::piece_text(&tokenizer, id))
        .collect();
    reference_clean_up(&raw)
}

fn logits_of(model: &Gpt, hidden: Tensor<3>) -> Vec<f32> {
    genpt::generate::last_logits(model, hidden)
}

fn argmax(row: &[f32]) -> u32 {
    (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b }) as u32
}

fn ids_tensor(ids: &[u32]) -> Tensor<2, Int> {
    let values: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(values, [1, ids.len()]), &device())
}

/// Greedy decoding of several prompts with `Gpt::forward_decode_each`, sequences joining and
/// leaving at different steps as in the server. `swap` exchanges the caches of sequences 0 and
/// 1 before decoding (the negative control). Returns each sequence's tokens and logits rows.
fn decode_continuously(
    model: &Gpt,
    prompts: &[Vec<u32>],
    joins: &[usize],
    lengths: &[usize],
    swap: bool,
) -> Vec<(Vec<u32>, Vec<Vec<f32>>)> {
    struct Seq {
        index: usize,
        cache: KvCache,
        tokens: Vec<u32>,
        rows: Vec<Vec<f32>>,
    }
    let mut out: Vec<(Vec<u32>, Vec<Vec<f32>>)> = vec![Default::default(); prompts.len()];
    let mut active: Vec<Seq> = Vec::new();
    let mut step = 0;
    while out.iter().zip(lengths).any(|(o, &n)| o.0.len() < n) {
        for (i, prompt) in prompts.iter().enumerate() {
            if joins[i] == step {
                let mut cache = KvCache::default();
                let hidden = model.forward_cached(ids_tensor(prompt), &mut cache).hidden;
                let row = logits_of(model, hidden);
                active.push(Seq {
                    index: i,
                    cache,
                    tokens: vec![argmax(&row)],
                    rows: vec![row],
                });
            }
        }
        if swap && step == joins[0].max(joins[1]) {
            let (a, b) = (
                active.iter().position(|s| s.index == 0).unwrap(),
                active.iter().position(|s| s.index == 1).unwrap(),
            );
            let cache = std::mem::take(&mut active[a].cache);
            active[a].cache = std::mem::replace(&mut active[b].cache, cache);
        }
        // Finished sequences leave.
        for s in std::mem::take(&mut active) {
            if s.tokens.len() >= lengths[s.index] {
                out[s.index] = (s.tokens, s.rows);
            } else {
                active.push(s);
            }
        }
        if !active.is_empty() {
            let ids: Vec<u32> = active.iter().map(|s| *s.tokens.last().unwrap()).collect();
            let mut caches: Vec<&mut KvCache> = active.iter_mut().map(|s| &mut s.cache).collect();
            let logits = logits_of(model, model.forward_decode_each(&ids, &mut caches).hidden);
            let vocab = logits.len() / active.len();
            for (s, row) in active.iter_mut().zip(logits.chunks(vocab)) {
                s.tokens.push(argmax(row));
                s.rows.push(row.to_vec());
            }
        }
        step += 1;
    }
    out
}

#[test]
fn batched_decoding_gives_what_each_sequence_gets_alone() {
    let model = load_lm();
    let tokenizer = tokenizer();
    let prompts: Vec<Vec<u32>> = [
        "the cat sat",
        "a bird",
        "we walked to the river and saw",
        "she reads a book about the sea",
    ]
    .iter()
    .map(|p| tokenizer.encode(p))
    .collect();
    let joins = [0, 0, 2, 5];
    let lengths = [12, 6, 10, 9];
    let batched = decode_continuously(&model, &prompts, &joins, &lengths, false);
    for (i, prompt) in prompts.iter().enumerate() {
        let greedy = SamplingConfig {
            temperature: 0.0,
            max_new_tokens: lengths[i],
            ..Default::default()
        };
        let alone = generate(&model, prompt, &greedy, false, |_| {});
        assert_eq!(batched[i].0, alone, "sequence {i}: tokens");
        // Logits: each step against the full forward pass of the sequence so far, alone.
        let mut context = prompt.clone();
        for (step, row) in batched[i].1.iter().enumerate() {
            let reference = logits_of(&model, model.forward(ids_tensor(&context), false).hidden);
            let worst = reference
                .iter()
                .zip(row)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-4,
                "sequence {i}, step {step}: logits differ by {worst}"
            );
            context.push(batched[i].0[step]);
        }
    }
    // Negative control: the same comparison with two sequences' caches exchanged must fail.
    let swapped = decode_continuously(&model, &prompts, &joins, &lengths, true);
    let greedy = |n| SamplingConfig {
        temperature: 0.0,
        max_new_tokens: n,
        ..Default::default()
    };
    let alone0 = generate(&model, &prompts[0], &greedy(lengths[0]), true, |_| {});
    let alone1 = generate(&model, &prompts[1], &greedy(lengths[1]), true, |_| {});
    assert!(
        swapped[0].0 != alone0 || swapped[1].0 != alone1,
        "the check cannot tell sequences apart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_completions_match_generating_alone() {
    let mut config = config();
    // Slow steps so that the requests overlap and share decoding steps.
    config.step_delay = Duration::from_millis(5);
    let server = Arc::new(Server::start(config).await);
    let model = load_lm();
    let cases: Vec<(&str, SamplingConfig)> = vec![
        (
            "the cat sat",
            SamplingConfig {
                temperature: 0.0,
                max_new_tokens: 20,
                ..Default::default()
            },
        ),
        (
            "a bird sang in",
            SamplingConfig {
                temperature: 0.0,
                max_new_tokens: 14,
                ..Default::default()
            },
        ),
        (
            "we walked to the river",
            SamplingConfig {
                temperature: 0.8,
                top_k: 20,
                seed: 5,
                max_new_tokens: 18,
                ..Default::default()
            },
        ),
        (
            "she reads",
            SamplingConfig {
                temperature: 1.0,
                top_p: 0.9,
                seed: 11,
                max_new_tokens: 16,
                ..Default::default()
            },
        ),
        (
            "the dog ran in the park with",
            SamplingConfig {
                temperature: 0.0,
                max_new_tokens: 9,
                ..Default::default()
            },
        ),
        (
            "it is",
            SamplingConfig {
                temperature: 0.7,
                seed: 2,
                max_new_tokens: 20,
                ..Default::default()
            },
        ),
    ];
    let tasks: Vec<_> = cases
        .iter()
        .map(|(prompt, s)| {
            let server = server.clone();
            let body = json!({
                "model": "tiny", "prompt": prompt, "max_tokens": s.max_new_tokens,
                "temperature": s.temperature, "top_k": s.top_k, "top_p": s.top_p, "seed": s.seed,
            });
            tokio::spawn(async move { server.post("/v1/completions", body).await })
        })
        .collect();
    for ((prompt, sampling), task) in cases.iter().zip(tasks) {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let choice = &body["choices"][0];
        assert_eq!(
            choice["text"].as_str().unwrap(),
            reference_text(&model, prompt, sampling),
            "{prompt:?}"
        );
        assert_eq!(choice["finish_reason"], "length");
        assert_eq!(body["usage"]["completion_tokens"], sampling.max_new_tokens);
        assert_eq!(body["object"], "text_completion");
    }
    // Some decoding step really did carry more than one sequence.
    let steps = server.metric("genpt_decode_batch_size_count").await;
    let single = server
        .metric("genpt_decode_batch_size_bucket{le=\"1\"}")
        .await;
    assert!(
        single < steps,
        "every step decoded one sequence ({steps} steps)"
    );
    let tokens = server.metric("genpt_tokens_generated_total").await;
    assert_eq!(tokens, 97.0);
}

/// `data:` payloads of an SSE body.
fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.trim_start().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_sends_each_token_and_ends_with_done() {
    let server = Server::start(config()).await;
    let request = json!({"prompt": "the children played", "max_tokens": 12, "temperature": 0.9,
                         "seed": 3, "logprobs": 2});
    let (status, whole) = server.post("/v1/completions", request.clone()).await;
    assert_eq!(status, 200, "{whole}");
    let mut streamed = request;
    streamed["stream"] = json!(true);
    let response = server
        .client
        .post(server.url("/v1/completions"))
        .json(&streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    // One chunk per token, then the finish.
    assert_eq!(chunks.len(), 13);
    let text: String = chunks
        .iter()
        .map(|c| c["choices"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, whole["choices"][0]["text"].as_str().unwrap());
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert_eq!(last["usage"]["completion_tokens"], 12);
    // Log-probabilities: the same per token in both forms, and top alternatives sorted.
    let streamed_lp: Vec<f64> = chunks[..12]
        .iter()
        .map(|c| {
            c["choices"][0]["logprobs"]["token_logprobs"][0]
                .as_f64()
                .unwrap()
        })
        .collect();
    let whole_lp: Vec<f64> = whole["choices"][0]["logprobs"]["token_logprobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(streamed_lp, whole_lp);
    assert!(whole_lp.iter().all(|&lp| lp <= 0.0));
    let top = whole["choices"][0]["logprobs"]["top_logprobs"][0]
        .as_object()
        .unwrap();
    assert!(!top.is_empty() && top.len() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sequences_end_the_completion_before_them() {
    let server = Server::start(config()).await;
    let greedy = json!({"prompt": "the cat sat", "max_tokens": 24, "temperature": 0});
    let (_, full) = server.post("/v1/completions", greedy.clone()).await;
    let full = full["choices"][0]["text"].as_str().unwrap().to_string();
    // A stop made of the text's third word, wherever it first appears.
    let word = full
        .split(' ')
        .filter(|w| !w.is_empty())
        .nth(2)
        .expect("three words");
    let at = full.find(word).unwrap();
    for stream in [false, true] {
        let mut request = greedy.clone();
        request["stop"] = json!(["never appears", word]);
        request["stream"] = json!(stream);
        let (text, finish) = if stream {
            let body = server
                .client
                .post(server.url("/v1/completions"))
                .json(&request)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let events = sse_data(&body);
            let chunks: Vec<Value> = events[..events.len() - 1]
                .iter()
                .map(|e| serde_json::from_str(e).unwrap())
                .collect();
            let text: String = chunks
                .iter()
                .map(|c| c["choices"][0]["text"].as_str().unwrap())
                .collect();
            (
                text,
                chunks.last().unwrap()["choices"][0]["finish_reason"].clone(),
            )
        } else {
            let (status, body) = server.post("/v1/completions", request).await;
            assert_eq!(status, 200);
            (
                body["choices"][0]["text"].as_str().unwrap().to_string(),
                body["choices"][0]["finish_reason"].clone(),
            )
        };
        assert_eq!(text, full[..at], "stream: {stream}");
        assert_eq!(finish, "stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn score_equals_the_models_log_probabilities() {
    let server = Server::start(config()).await;
    let text = "the dog ran in the park with a red ball.";
    let (status, body) = server.post("/v1/score", json!({"text": text})).await;
    assert_eq!(status, 200, "{body}");
    let ids = tokenizer().encode(text);
    let model = load_lm();
    let reference: Vec<f32> = model
        .next_token_logprobs(
            model.forward(ids_tensor(&ids), false).hidden,
            ids_tensor(&ids),
        )
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    let got = body["token_logprobs"].as_array().unwrap();
    assert_eq!(got.len(), ids.len());
    assert!(got[0].is_null(), "the first token has no context");
    for (g, r) in got[1..].iter().zip(&reference) {
        assert!((g.as_f64().unwrap() as f32 - r).abs() < 1e-4, "{g} vs {r}");
    }
    let total: f32 = reference.iter().sum();
    assert!((body["total_logprob"].as_f64().unwrap() as f32 - total).abs() < 1e-3);
    assert_eq!(body["ids"], json!(ids));
}

fn direct_predictions(dir: &Path, examples: &[genpt_tasks::Example]) -> Vec<Prediction> {
    let info = TaskInfo::load(dir).unwrap();
    let mut tokenizer = genpt_tokenizer::Tokenizer::from_dir(dir).unwrap();
    let specials = genpt::finetune::tasks::special_ids(
        &tokenizer.add_special_tokens(&genpt::finetune::tasks::SPECIAL_NAMES),
    );
    let kind = info.task_kind();
    let tokenize = |t: &str| tokenizer.encode(t);
    let encoded: Vec<_> = examples
        .iter()
        .map(|e| genpt::finetune::tasks::encode_example(e, &kind, &tokenize, specials, 64).unwrap())
        .collect();
    let model = ft::load(dir, &device()).unwrap();
    // One example per forward pass: the reference is each input alone.
    encoded
        .iter()
        .flat_map(|e| ft::predict(&model, std::slice::from_ref(e), 1, &device()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classify_answers_with_labels_and_probabilities() {
    let server = Arc::new(Server::start(config()).await);
    let texts = [
        "the movie was good",
        "the book was better",
        "a red ball in the park",
        "we saw a small boat on the river",
        "it is a great day",
        "the cat looked at the dog",
    ];
    // Sent together, so that they can share forward passes.
    let tasks: Vec<_> = texts
        .iter()
        .map(|t| {
            let server = server.clone();
            let body = json!({"model": "sentiment", "inputs": t});
            tokio::spawn(async move { server.post("/v1/classify", body).await })
        })
        .collect();
    let examples: Vec<genpt_tasks::Example> = texts
        .iter()
        .map(|t| genpt_tasks::Example {
            id: String::new(),
            input: genpt_tasks::Input::Single(t.to_string()),
            label: None,
        })
        .collect();
    let reference = direct_predictions(&fixture().text_task, &examples);
    let mut labels_seen = std::collections::HashSet::new();
    for (task, expected) in tasks.into_iter().zip(&reference) {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let Prediction::Class {
            index,
            probabilities,
        } = expected
        else {
            panic!("a classifier predicts classes")
        };
        let names = ["negative", "positive"];
        assert_eq!(body["label"], names[*index]);
        labels_seen.insert(*index);
        for (name, p) in names.iter().zip(probabilities) {
            let got = body["probabilities"][name].as_f64().unwrap() as f32;
            assert!((got - p).abs() < 1e-5, "{name}: {got} vs {p}");
        }
        assert_eq!(body["model"], "sentiment");
    }
    assert!(
        server.metric("genpt_classify_batch_size_count").await >= 1.0,
        "classification ran"
    );
    // A pair task, in both input forms, against the model directly.
    let pair = genpt_tasks::Example {
        id: String::new(),
        input: genpt_tasks::Input::Pair("the dog ran".into(), "a dog is running".into()),
        label: None,
    };
    let Prediction::Class { index, .. } = &direct_predictions(&fixture().pair_task, &[pair])[0]
    else {
        panic!()
    };
    for inputs in [
        json!(["the dog ran", "a dog is running"]),
        json!({"premise": "the dog ran", "hypothesis": "a dog is running"}),
    ] {
        let (status, body) = server
            .post("/v1/classify", json!({"model": "nli", "inputs": inputs}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["label"], ["negative", "positive"][*index]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenize_detokenize_models_health_and_metrics() {
    let server = Server::start(config()).await;
    let text = "the cat sat on the mat";
    let (status, body) = server.post("/tokenize", json!({"content": text})).await;
    assert_eq!(status, 200);
    let ids = tokenizer().encode(text);
    assert_eq!(body["tokens"], json!(ids));
    let (_, pieces) = server
        .post("/tokenize", json!({"content": text, "with_pieces": true}))
        .await;
    assert_eq!(pieces["tokens"][0]["id"], json!(ids[0]));
    let (status, body) = server.post("/detokenize", json!({"tokens": ids})).await;
    assert_eq!(status, 200);
    assert_eq!(body["content"].as_str().unwrap().trim_end(), text);
    let (status, models) = server.get("/v1/models").await;
    assert_eq!(status, 200);
    let models: Value = serde_json::from_str(&models).unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tiny", "sentiment", "nli"]);
    assert_eq!(
        models["data"][2]["meta"]["fields"],
        json!(["premise", "hypothesis"])
    );
    assert_eq!(
        models["data"][1]["meta"]["labels"],
        json!(["negative", "positive"])
    );
    let (status, health) = server.get("/health").await;
    assert_eq!((status, health.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, metrics) = server.get("/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "genpt_requests_total{endpoint=\"/tokenize\",status=\"200\"} 2",
        "genpt_request_duration_seconds_bucket{endpoint=\"/v1/models\",le=\"+Inf\"} 1",
        "genpt_tokens_generated_total 0",
        "genpt_queue_depth 0",
        "# TYPE genpt_decode_batch_size histogram",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_the_server_keeps_serving() {
    let server = Server::start(config()).await;
    let long_prompt = "the cat sat on the mat ".repeat(30);
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "/v1/completions",
            b"{\"prompt\": \"the cat\",".to_vec(),
            400,
            "not valid JSON",
        ),
        ("/v1/completions", b"".to_vec(), 400, "empty"),
        (
            "/v1/completions",
            br#"{"prompt": "the cat", "max_tokens": "ten"}"#.to_vec(),
            400,
            "invalid type",
        ),
        (
            "/v1/completions",
            br#"{"prompt": 42}"#.to_vec(),
            400,
            "prompt must be a string",
        ),
        (
            "/v1/completions",
            br#"{"max_tokens": 3}"#.to_vec(),
            400,
            "missing field `prompt`",
        ),
        (
            "/v1/completions",
            br#"{"prompt": ""}"#.to_vec(),
            400,
            "the prompt is empty",
        ),
        (
            "/v1/completions",
            b"{\"prompt\": \"the \xff\xfe cat\"}".to_vec(),
            400,
            "not valid UTF-8",
        ),
        (
            "/v1/completions",
            json!({"prompt": long_prompt}).to_string().into_bytes(),
            400,
            "at most 64",
        ),
        (
            "/v1/completions",
            br#"{"prompt": "the cat", "max_tokens": 64}"#.to_vec(),
            400,
            "exceed the model's context",
        ),
        (
            "/v1/completions",
            br#"{"prompt": "the cat", "max_tokens": 1000}"#.to_vec(),
            400,
            "max_tokens must be between 1 and 64",
        ),
        (
            "/v1/completions",
            br#"{"prompt": "the cat", "temperature": -1}"#.to_vec(),
            400,
            "temperature",
        ),
        (
            "/v1/completions",
            br#"{"prompt": "the cat", "top_p": 0}"#.to_vec(),
            400,
            "top_p",
        ),
        (
            "/v1/completions",
            br#"{"prompt": "the cat", "logprobs": 50}"#.to_vec(),
            400,
            "logprobs",
        ),
        (
            "/v1/completions",
            br#"{"prompt": "the cat", "stop": 7}"#.to_vec(),
            400,
            "stop must be",
        ),
        (
            "/v1/completions",
            br#"{"prompt": "the cat", "model": "gpt-4"}"#.to_vec(),
            404,
            "not served",
        ),
        (
            "/v1/completions",
            br#"{"prompt": "the cat", "model": "sentiment"}"#.to_vec(),
            400,
            "use POST /v1/classify",
        ),
        (
            "/v1/completions",
            vec![b' '; 10 << 20],
            413,
            "larger than the server accepts",
        ),
        (
            "/v1/score",
            br#"{"text": "cat"}"#.to_vec(),
            400,
            "at least two",
        ),
        (
            "/v1/score",
            json!({"text": long_prompt}).to_string().into_bytes(),
            400,
            "at most 64",
        ),
        (
            "/v1/classify",
            br#"{"inputs": "the cat"}"#.to_vec(),
            400,
            "name the model",
        ),
        (
            "/v1/classify",
            br#"{"model": "sarcasm", "inputs": "the cat"}"#.to_vec(),
            404,
            "no fine-tuned model \"sarcasm\"",
        ),
        (
            "/v1/classify",
            br#"{"model": "nli", "inputs": "only one text"}"#.to_vec(),
            400,
            "takes two strings",
        ),
        (
            "/v1/classify",
            br#"{"model": "nli", "inputs": {"premise": "a cat"}}"#.to_vec(),
            400,
            "missing field \"hypothesis\"",
        ),
        (
            "/v1/classify",
            br#"{"model": "sentiment", "inputs": ""}"#.to_vec(),
            400,
            "empty",
        ),
        (
            "/v1/classify",
            json!({"model": "sentiment", "inputs": long_prompt})
                .to_string()
                .into_bytes(),
            400,
            "truncate",
        ),
        (
            "/detokenize",
            br#"{"tokens": [999999]}"#.to_vec(),
            400,
            "not in the vocabulary",
        ),
        (
            "/tokenize",
            br#"{"content": "x", "model": "nope"}"#.to_vec(),
            404,
            "not served",
        ),
        (
            "/v1/nothing",
            b"{}".to_vec(),
            404,
            "no endpoint POST /v1/nothing",
        ),
    ];
    for (path, body, status, message) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).to_string();
        let (got, answer) = if body.len() > 1 << 20 {
            server.post_oversized(path, body.len()).await
        } else {
            server.post_raw(path, body).await
        };
        assert_eq!(got, status, "{path} {shown}: {answer}");
        let text = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            text.contains(message),
            "{path} {shown}: {text:?} lacks {message:?}"
        );
        assert_eq!(answer["error"]["code"], status);
        // Still serving.
        let (ok, _) = server
            .post(
                "/v1/completions",
                json!({"prompt": "the cat", "max_tokens": 2}),
            )
            .await;
        assert_eq!(ok, 200, "after {path} {shown}");
    }
    // A truncated classification is accepted when asked for.
    let (status, _) = server
        .post(
            "/v1/classify",
            json!({"model": "sentiment", "inputs": long_prompt, "truncate": true}),
        )
        .await;
    assert_eq!(status, 200);
    let response = server
        .client
        .get(server.url("/v1/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not allowed"));
    assert!(
        server
            .metric("genpt_requests_total{endpoint=\"/v1/completions\",status=\"400\"}")
            .await
            >= 10.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_refused_with_429() {
    let mut config = config();
    config.limits.max_batch = 1;
    config.limits.max_queue = 1;
    config.step_delay = Duration::from_millis(20);
    let server = Arc::new(Server::start(config).await);
    let request = json!({"prompt": "the cat", "max_tokens": 25});
    let send = |server: Arc<Server>| {
        let request = request.clone();
        tokio::spawn(async move { server.post("/v1/completions", request).await })
    };
    let first = send(server.clone());
    server
        .wait_for_metric("genpt_active_sequences", |v| v == 1.0)
        .await;
    let second = send(server.clone());
    server
        .wait_for_metric("genpt_queue_depth", |v| v == 1.0)
        .await;
    let (status, body) = server.post("/v1/completions", request.clone()).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("queue is full"));
    // The admitted requests are served in full.
    for task in [first, second] {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["usage"]["completion_tokens"], 25);
    }
    assert_eq!(server.metric("genpt_queue_rejected_total").await, 1.0);
    // Only one sequence at a time was decoded.
    let steps = server.metric("genpt_decode_batch_size_count").await;
    assert_eq!(
        server
            .metric("genpt_decode_batch_size_bucket{le=\"1\"}")
            .await,
        steps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_stops_its_generation() {
    let mut config = config();
    config.step_delay = Duration::from_millis(10);
    let server = Server::start(config).await;
    let long = json!({"prompt": "the cat", "max_tokens": 60, "stream": true});
    // A stream read for a few chunks, then dropped.
    let mut response = server
        .client
        .post(server.url("/v1/completions"))
        .json(&long)
        .send()
        .await
        .unwrap();
    for _ in 0..3 {
        response.chunk().await.unwrap().expect("a chunk");
    }
    drop(response);
    server
        .wait_for_metric("genpt_generations_cancelled_total", |v| v == 1.0)
        .await;
    // An ordinary request whose client gives up (a timeout drops the response future).
    let mut plain = long.clone();
    plain["stream"] = json!(false);
    let abandoned = server
        .client
        .post(server.url("/v1/completions"))
        .json(&plain)
        .timeout(Duration::from_millis(150))
        .send()
        .await;
    assert!(abandoned.is_err(), "the request should have timed out");
    server
        .wait_for_metric("genpt_generations_cancelled_total", |v| v == 2.0)
        .await;
    // No more tokens are being made.
    let before = server.metric("genpt_tokens_generated_total").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = server.metric("genpt_tokens_generated_total").await;
    assert_eq!(before, after);
    assert!(
        after < 120.0,
        "{after} tokens: the generations ran to the end"
    );
    assert_eq!(server.metric("genpt_active_sequences").await, 0.0);
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits() {
    let f = fixture();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_genpt"))
        .args(["serve", "--model"])
        .arg(&f.lm)
        .arg("--task-model")
        .arg(format!("sentiment={}", f.text_task.display()))
        .args(["--addr", "127.0.0.1:0", "--step-delay-ms", "20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/v1/completions");
        let in_flight = tokio::spawn({
            let client = client.clone();
            let url = url.clone();
            async move {
                let response = client
                    .post(url)
                    .json(&json!({"prompt": "the cat", "max_tokens": 25}))
                    .send()
                    .await
                    .unwrap();
                (
                    response.status().as_u16(),
                    response.json::<Value>().await.unwrap(),
                )
            }
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let (status, body) = in_flight.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["usage"]["completion_tokens"], 25,
            "the request ran to its end"
        );
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "still listening"
    );
}

#[test]
fn a_model_directory_without_vocabulary_needs_tokenizer() {
    let f = fixture();
    let bare = f.dir.join("bare-lm");
    std::fs::create_dir_all(&bare).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(f.lm.join(file), bare.join(file)).unwrap();
    }
    let mut config = config();
    config.model = bare;
    config.task_models.clear();
    let error = AppState::load(&config)
        .err()
        .expect("no tokenizer")
        .to_string();
    assert!(error.contains("--tokenizer"), "{error}");
    config.tokenizer = Some(f.dir.join("tokenizer"));
    AppState::load(&config).expect("with --tokenizer");
}

/// A GPT-2 model (the tiny random one of ../shared, its byte-level vocabulary in the same
/// directory) served as it is: completions equal `generate_until` stopping at `<|endoftext|>`,
/// streamed or not, and their text is the byte-level decoding of the tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpt2_model_completes_like_generating_alone() {
    let Some(shared) = genpt::shared_dir() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let dir = shared.join("fixtures/tiny-random-gpt2");
    let mut config = config();
    config.model = dir.clone();
    config.task_models.clear();
    let server = Server::start(config).await;
    let model = genpt::weights::load_model(&dir, &Default::default(), &device()).unwrap();
    assert_eq!(model.config().arch, genpt::config::Arch::Gpt2);
    let tokenizer = genpt_tokenizer::Tokenizer::from_dir(&dir).unwrap();
    for (prompt, seed) in [("Hello world, it's", 0u64), ("Üñíçødé 😀 text", 3)] {
        let sampling = SamplingConfig {
            temperature: if seed == 0 { 0.0 } else { 1.0 },
            seed,
            max_new_tokens: 24,
            ..Default::default()
        };
        let ids = tokenizer.encode(prompt);
        let want = genpt::generate::generate_until(
            &model,
            &ids,
            &sampling,
            true,
            tokenizer.eot_id(),
            |_| {},
        );
        let want_text = String::from_utf8_lossy(&tokenizer.decode_bytes(&want)).into_owned();
        let body = json!({"prompt": prompt, "max_tokens": 24, "temperature": sampling.temperature, "seed": seed});
        let (status, answer) = server.post("/v1/completions", body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["choices"][0]["text"], want_text.as_str(), "{prompt}");
        assert_eq!(answer["usage"]["completion_tokens"], want.len());
        let mut streamed = body;
        streamed["stream"] = json!(true);
        let response = server
            .client
            .post(server.url("/v1/completions"))
            .json(&streamed)
            .send()
            .await
            .unwrap();
        let text: String = sse_data(&response.text().await.unwrap())
            .iter()
            .filter(|d| *d != "[DONE]")
            .map(|d| {
                serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            text, want_text,
            "{prompt}: the stream joins to the same text"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The OpenAI completions API as lm-evaluation-harness and the OpenAI SDK use it (issue 24).

/// log p(ids[t] | ids[..t]) for t ≥ 1 and the log-softmax rows, from the model directly.
fn prompt_logprobs(model: &Gpt, ids: &[u32]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let hidden = model.forward(ids_tensor(ids), false).hidden;
    let logits = model
        .lm_logits(hidden)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    let vocab = logits.len() / ids.len();
    let rows: Vec<Vec<f64>> = logits
        .chunks(vocab)
        .map(|row| {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
            let total: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
            row.iter().map(|&x| x as f64 - max - total.ln()).collect()
        })
        .collect();
    let targets = (1..ids.len())
        .map(|t| rows[t - 1][ids[t] as usize])
        .collect();
    (targets, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_returns_the_prompt_with_its_log_probabilities() {
    let server = Server::start(config()).await;
    let model = load_lm();
    let tok = tokenizer();
    let ids = tok.encode("the dog ran in the park with a red ball.");
    let (want, rows) = prompt_logprobs(&model, &ids);
    // lm-evaluation-harness's loglikelihood request, exactly: token ids, echo, one token.
    let (status, body) = server
        .post(
            "/v1/completions",
            json!({"model": "tiny", "prompt": [ids.clone()], "max_tokens": 1, "logprobs": 1,
                   "echo": true, "temperature": 0, "seed": 1234}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let lp = &body["choices"][0]["logprobs"];
    let got = lp["token_logprobs"].as_array().unwrap();
    assert_eq!(
        got.len(),
        ids.len() + 1,
        "the prompt's tokens, then the completion's"
    );
    assert!(got[0].is_null(), "the first token has no context");
    assert!(lp["top_logprobs"][0].is_null());
    for (t, (g, w)) in got[1..ids.len()].iter().zip(&want).enumerate() {
        assert!(
            (g.as_f64().unwrap() - w).abs() < 1e-4,
            "token {}: {g} vs {w}",
            t + 1
        );
    }
    // The harness's is_greedy: the token's log-probability against its top alternative.
    for t in 1..ids.len() {
        let best = rows[t - 1]
            .iter()
            .cloned()
            .fold(f64::NEG_INFINITY, f64::max);
        let top = lp["top_logprobs"][t].as_object().unwrap();
        assert_eq!(top.len(), 1);
        let top_value = top.values().next().unwrap().as_f64().unwrap();
        assert!((top_value - best).abs() < 1e-4);
    }
    // The generated token: greedy from the last position.
    let last = rows.last().unwrap();
    let greedy = (0..last.len()).fold(0, |b, i| if last[i] > last[b] { i } else { b });
    assert_eq!(
        lp["tokens"][ids.len()].as_str().unwrap(),
        genpt::serve::text::piece_text(&tok, greedy as u32)
    );
    let tokens: Vec<String> = ids
        .iter()
        .map(|&i| genpt::serve::text::piece_text(&tok, i))
        .collect();
    assert_eq!(
        lp["tokens"].as_array().unwrap()[..ids.len()],
        json!(tokens).as_array().unwrap()[..]
    );
    // The text starts with the prompt (cleaned up: GPT-1), and the offsets point into it.
    let text = body["choices"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("the dog ran in the park with a red ball."),
        "{text:?}"
    );
    let offsets: Vec<usize> = lp["text_offset"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    for (i, piece) in tokens.iter().enumerate().take(ids.len() - 1) {
        let word = piece.trim_end();
        assert_eq!(
            &text[offsets[i]..offsets[i] + word.len()],
            word,
            "token {i}"
        );
    }
    assert_eq!(body["usage"]["prompt_tokens"], ids.len());
    // max_tokens 0: the prompt scored, nothing generated; a string prompt gives the same.
    let (status, body) = server
        .post(
            "/v1/completions",
            json!({"prompt": "the dog ran in the park with a red ball.", "max_tokens": 0,
                   "logprobs": 0, "echo": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let got = body["choices"][0]["logprobs"]["token_logprobs"]
        .as_array()
        .unwrap();
    assert_eq!(got.len(), ids.len());
    for (g, w) in got[1..].iter().zip(&want) {
        assert!((g.as_f64().unwrap() - w).abs() < 1e-4);
    }
    assert_eq!(body["usage"]["completion_tokens"], 0);
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    // Without echo, max_tokens 0 is refused; echo without logprobs gives the text only.
    let (status, body) = server
        .post(
            "/v1/completions",
            json!({"prompt": "the cat", "max_tokens": 0}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("with echo"));
    let (status, body) = server
        .post(
            "/v1/completions",
            json!({"prompt": "the cat", "max_tokens": 3, "echo": true, "temperature": 0}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["choices"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("the cat "));
    assert!(body["choices"][0]["logprobs"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_prompt_form_gives_one_choice_per_prompt() {
    let server = Server::start(config()).await;
    let model = load_lm();
    let tok = tokenizer();
    let prompts = ["the cat sat", "a bird sang in", "we walked to the river"];
    let greedy = SamplingConfig {
        temperature: 0.0,
        max_new_tokens: 8,
        ..Default::default()
    };
    let want: Vec<String> = prompts
        .iter()
        .map(|p| reference_text(&model, p, &greedy))
        .collect();
    let ids: Vec<Vec<u32>> = prompts.iter().map(|p| tok.encode(p)).collect();
    let forms = [
        (json!(prompts[0]), vec![0]),
        (json!([prompts[1]]), vec![1]),
        (json!(prompts), vec![0, 1, 2]),
        (json!(ids[2]), vec![2]),
        (json!(ids), vec![0, 1, 2]),
    ];
    for (prompt, which) in forms {
        let (status, body) = server
            .post(
                "/v1/completions",
                json!({"prompt": prompt, "max_tokens": 8, "temperature": 0}),
            )
            .await;
        assert_eq!(status, 200, "{prompt}: {body}");
        let choices = body["choices"].as_array().unwrap();
        assert_eq!(choices.len(), which.len(), "{prompt}");
        for (i, (choice, &p)) in choices.iter().zip(&which).enumerate() {
            assert_eq!(choice["index"], i);
            assert_eq!(
                choice["text"].as_str().unwrap(),
                want[p],
                "{prompt}, choice {i}"
            );
        }
        assert_eq!(body["usage"]["completion_tokens"], 8 * which.len());
    }
    // A streamed batch: chunks name their choice; each choice's chunks join to its text.
    let response = server
        .client
        .post(server.url("/v1/completions"))
        .json(&json!({"prompt": prompts, "max_tokens": 8, "temperature": 0, "stream": true}))
        .send()
        .await
        .unwrap();
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    assert_eq!(events.iter().filter(|e| *e == "[DONE]").count(), 1);
    let mut texts = vec![String::new(); 3];
    let mut finished = 0;
    for e in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(e).unwrap();
        let choice = &chunk["choices"][0];
        texts[choice["index"].as_u64().unwrap() as usize]
            .push_str(choice["text"].as_str().unwrap());
        finished += usize::from(!choice["finish_reason"].is_null());
    }
    assert_eq!(texts, want);
    assert_eq!(finished, 3);
    // The batch's prompts were prefilled together: fewer prefill passes than prompts is not
    // observable from outside, but the decoding batches are.
    assert!(
        server.metric("genpt_decode_batch_size_sum").await
            > server.metric("genpt_decode_batch_size_count").await
    );
    // Bad prompts are refused with where they are wrong.
    let vocab = tok.vocab_size();
    let cases = [
        (json!([[1, 2], [3, vocab, 4]]), "prompt[1][1]: token id"),
        (json!([5, -1]), "prompt[1]: -1 is not a token id"),
        (json!([]), "prompt is an empty list"),
        (json!([[1, 2], []]), "prompt[1] is empty"),
        (
            json!(["the cat", 7]),
            "prompt must be a string, a list of strings",
        ),
        (json!(["the cat", ""]), "prompt[1] is empty"),
    ];
    for (prompt, message) in cases {
        let (status, body) = server
            .post(
                "/v1/completions",
                json!({"prompt": prompt, "max_tokens": 2}),
            )
            .await;
        assert_eq!(status, 400, "{prompt}: {body}");
        let text = body["error"]["message"].as_str().unwrap();
        assert!(
            text.contains(message),
            "{prompt}: {text:?} lacks {message:?}"
        );
    }
}

/// Every field of OpenAI's completion request (openai-python's `CompletionCreateParams`), with
/// what genpt does with it: each either works or is refused by name; none is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_openai_field_is_implemented_or_refused_by_name() {
    let server = Server::start(config()).await;
    // (field, value, accepted)
    let fields: Vec<(&str, Value, bool)> = vec![
        ("model", json!("tiny"), true),
        ("prompt", json!("the cat"), true),
        ("best_of", json!(1), true),
        ("best_of", json!(3), false),
        ("echo", json!(true), true),
        ("frequency_penalty", json!(0), true),
        ("frequency_penalty", json!(0.5), false),
        ("logit_bias", json!({}), true),
        ("logit_bias", json!({"5": 10}), false),
        ("logprobs", json!(2), true),
        ("max_tokens", json!(3), true),
        ("n", json!(1), true),
        ("n", json!(2), false),
        ("presence_penalty", json!(0.0), true),
        ("presence_penalty", json!(-1), false),
        ("seed", json!(7), true),
        ("stop", json!(["\n"]), true),
        ("stream", json!(false), true),
        ("stream_options", json!({"include_usage": true}), true),
        (
            "stream_options",
            json!({"continuous_usage_stats": true}),
            false,
        ),
        ("suffix", json!(""), true),
        ("suffix", json!(" the end"), false),
        ("temperature", json!(0.5), true),
        ("top_p", json!(0.9), true),
        ("user", json!("user-1234"), true),
        // genpt's own
        ("top_k", json!(5), true),
        ("clean_up_tokenization_spaces", json!(false), true),
        // not OpenAI's, not genpt's
        ("repetition_penalty", json!(1.2), false),
        ("min_tokens", json!(2), false),
    ];
    for (field, value, accepted) in fields {
        let mut body = json!({"prompt": "the cat", "max_tokens": 2});
        body[field] = value.clone();
        let (status, answer) = server.post("/v1/completions", body).await;
        if accepted {
            assert_eq!(status, 200, "{field}: {value}: {answer}");
        } else {
            assert_eq!(status, 400, "{field}: {value}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(field),
                "{field}: {message:?} does not name it"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_locks_every_endpoint_but_health() {
    let mut config = config();
    config.api_key = Some("s3cret-key".into());
    let server = Server::start(config).await;
    let get = |path: &'static str, key: Option<&'static str>| {
        let mut request = server.client.get(server.url(path));
        if let Some(key) = key {
            request = request.header("authorization", key);
        }
        request.send()
    };
    assert_eq!(get("/health", None).await.unwrap().status(), 200);
    for path in ["/v1/models", "/metrics", "/v1/nothing"] {
        for key in [
            None,
            Some("Bearer wrong"),
            Some("Bearer s3cret-ke"),
            Some("s3cret-key"),
        ] {
            let response = get(path, key).await.unwrap();
            assert_eq!(response.status(), 401, "{path} with {key:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: Value = response.json().await.unwrap();
            assert!(body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("API key"));
        }
    }
    assert_eq!(
        get("/v1/models", Some("Bearer s3cret-key"))
            .await
            .unwrap()
            .status(),
        200
    );
    let response = server
        .client
        .post(server.url("/v1/completions"))
        .bearer_auth("s3cret-key")
        .json(&json!({"prompt": "the cat", "max_tokens": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = server
        .client
        .post(server.url("/v1/completions"))
        .json(&json!({"prompt": "the cat", "max_tokens": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpt1_text_is_cleaned_up_like_transformers() {
    let server = Server::start(config()).await;
    let tok = tokenizer();
    let sentence = "he said that the movie was good, but the book was better.";
    let ids = tok.encode(sentence);
    // transformers: OpenAIGPTTokenizer.decode joins, reads </w> as a space, strips, cleans up.
    let (_, body) = server.post("/detokenize", json!({"tokens": ids})).await;
    assert_eq!(body["content"], sentence);
    let (_, body) = server
        .post(
            "/detokenize",
            json!({"tokens": ids, "clean_up_tokenization_spaces": false}),
        )
        .await;
    assert_eq!(
        body["content"],
        "he said that the movie was good , but the book was better ."
    );
    // Completions: the whole text is transformers' clean-up of the pieces, streamed or not,
    // with and without stop sequences.
    for prompt in ["the cat sat", "he said that the movie", "it is a great"] {
        for stop in [json!(null), json!(["."]), json!([", b"])] {
            let request = json!({"prompt": prompt, "max_tokens": 30, "temperature": 0.9,
                                 "seed": 4, "logprobs": 0, "stop": stop});
            let (_, whole) = server.post("/v1/completions", request.clone()).await;
            let text = whole["choices"][0]["text"].as_str().unwrap();
            let pieces: String = whole["choices"][0]["logprobs"]["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            let cleaned = reference_clean_up(&pieces);
            match stop.as_array().and_then(|s| s[0].as_str()) {
                None => assert_eq!(text, cleaned, "{prompt}"),
                Some(s) => match cleaned.find(s) {
                    Some(at) => assert_eq!(text, &cleaned[..at], "{prompt} stop {s:?}"),
                    None => assert_eq!(text, cleaned, "{prompt} stop {s:?}"),
                },
            }
            let mut streamed = request;
            streamed["stream"] = json!(true);
            let response = server
                .client
                .post(server.url("/v1/completions"))
                .json(&streamed)
                .send()
                .await
                .unwrap();
            let joined: String = sse_data(&response.text().await.unwrap())
                .iter()
                .filter(|d| *d != "[DONE]")
                .map(|d| {
                    serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            assert_eq!(joined, text, "{prompt}: the stream joins to the same text");
        }
        // Turned off: the pieces as they are.
        let (_, raw) = server
            .post(
                "/v1/completions",
                json!({"prompt": prompt, "max_tokens": 12, "temperature": 0, "logprobs": 0,
                       "clean_up_tokenization_spaces": false}),
            )
            .await;
        let pieces: String = raw["choices"][0]["logprobs"]["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(raw["choices"][0]["text"], pieces.as_str());
    }
}
