//! What every serve test shares: the fixture models, a server on loopback, and the references
//! (generating alone, the model's own log-probabilities) the answers are checked against.

pub use std::net::SocketAddr;
pub use std::path::{Path, PathBuf};
pub use std::sync::{Arc, OnceLock};
pub use std::time::{Duration, Instant};

pub use burn::tensor::{Int, Tensor, TensorData};
pub use genpt::finetune::classifier::new_classifier;
pub use genpt::finetune::Pooling;
pub use genpt::finetune::{self as ft, Prediction};
pub use genpt::generate::{generate, SamplingConfig};
pub use genpt::model::KvCache;
pub use genpt::serve::{AppState, Limits, ServeConfig};
pub use genpt::surgery::add_special_rows;
pub use genpt::{Gpt, GptConfig};
pub use genpt_tasks::{CustomKind, InputForm, TaskInfo};
pub use serde_json::{json, Value};

pub const SENTENCES: &[&str] = &[
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
pub struct Fixture {
    pub dir: PathBuf,
    pub lm: PathBuf,
    pub text_task: PathBuf,
    pub pair_task: PathBuf,
}

pub fn device() -> burn::tensor::Device {
    genpt::device::device("flex").unwrap()
}

pub fn tiny_config(vocab_size: usize) -> GptConfig {
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

pub fn copy_vocab(from: &Path, to: &Path) {
    let (encoder, merges) = genpt_tokenizer::vocab::find_files(from).unwrap();
    for file in [encoder, merges] {
        std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
    }
}

pub fn fixture() -> &'static Fixture {
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

pub fn config() -> ServeConfig {
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
        precision: Default::default(),
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
pub struct Server {
    pub addr: SocketAddr,
    pub shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub client: reqwest::Client,
}

impl Server {
    pub async fn start(config: ServeConfig) -> Self {
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

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
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

    /// Greedy completions of `prompts`, requested all at once (so that decoding steps carry
    /// several sequences): each answer's status and body, in the prompts' order.
    pub async fn complete_together(
        self: &Arc<Self>,
        prompts: &[&str],
        max_tokens: usize,
    ) -> Vec<(u16, Value)> {
        let tasks: Vec<_> = prompts
            .iter()
            .map(|prompt| {
                let server = self.clone();
                let body = json!({"model": "tiny", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0});
                tokio::spawn(async move { server.post("/v1/completions", body).await })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        answers
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
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
    pub async fn post_oversized(&self, path: &str, length: usize) -> (u16, Value) {
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

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The value of one metric line (exact name with labels).
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
            .parse()
            .unwrap()
    }

    pub async fn wait_for_metric(&self, name: &str, ok: impl Fn(f64) -> bool) -> f64 {
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

pub fn tokenizer() -> genpt_tokenizer::Tokenizer {
    genpt_tokenizer::Tokenizer::from_dir(&fixture().lm).unwrap()
}

pub fn load_lm() -> Gpt {
    genpt::weights::load_model(&fixture().lm, &Default::default(), &device()).unwrap()
}

/// transformers' `clean_up_tokenization` (tokenization_utils_base.py), transcribed as its
/// chain of replaces: what GPT-1 completions read like by default.
pub fn reference_clean_up(text: &str) -> String {
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
pub fn reference_text(model: &Gpt, prompt: &str, sampling: &SamplingConfig) -> String {
    let tokenizer = tokenizer();
    let ids = generate(model, &tokenizer.encode(prompt), sampling, true, |_| {});
    let raw: String = ids
        .iter()
        .map(|&id| genpt::serve::text::piece_text(&tokenizer, id))
        .collect();
    reference_clean_up(&raw)
}

pub fn logits_of(model: &Gpt, hidden: Tensor<3>) -> Vec<f32> {
    genpt::generate::last_logits(model, hidden)
}

pub fn argmax(row: &[f32]) -> u32 {
    (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b }) as u32
}

pub fn ids_tensor(ids: &[u32]) -> Tensor<2, Int> {
    let values: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(values, [1, ids.len()]), &device())
}

/// Greedy decoding of several prompts with `Gpt::forward_decode_each`, sequences joining and
/// leaving at different steps as in the server. `swap` exchanges the caches of sequences 0 and
/// 1 before decoding (the negative control). Returns each sequence's tokens and logits rows.
pub fn decode_continuously(
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

/// `data:` payloads of an SSE body.
pub fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.trim_start().to_string())
        .collect()
}

/// Unlabeled single-text examples, as a classifier's inputs.
pub fn text_examples(texts: &[&str]) -> Vec<genpt_tasks::Example> {
    texts
        .iter()
        .map(|t| genpt_tasks::Example {
            id: String::new(),
            input: genpt_tasks::Input::Single(t.to_string()),
            label: None,
        })
        .collect()
}

pub fn direct_predictions(dir: &Path, examples: &[genpt_tasks::Example]) -> Vec<Prediction> {
    direct_predictions_in(dir, examples, Default::default())
}

/// [`direct_predictions`] with the model's decoder at inference precision `precision`.
pub fn direct_predictions_in(
    dir: &Path,
    examples: &[genpt_tasks::Example],
    precision: genpt::precision::Precision,
) -> Vec<Prediction> {
    let info = TaskInfo::load(dir).unwrap();
    let mut tokenizer = genpt_tokenizer::Tokenizer::from_dir(dir).unwrap();
    let specials = genpt::finetune::task_bridge::special_ids(
        &tokenizer.add_special_tokens(&genpt::finetune::task_bridge::SPECIAL_NAMES),
    );
    let kind = info.task_kind();
    let tokenize = |t: &str| tokenizer.encode(t);
    let encoded: Vec<_> = examples
        .iter()
        .map(|e| {
            genpt::finetune::task_bridge::encode_example(e, &kind, &tokenize, specials, 64).unwrap()
        })
        .collect();
    let mut model = ft::load(dir, &device()).unwrap();
    model.gpt = precision.for_classifier(model.gpt).unwrap();
    // One example per forward pass: the reference is each input alone.
    encoded
        .iter()
        .flat_map(|e| ft::predict(&model, std::slice::from_ref(e), 1, &device()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The OpenAI completions API as lm-evaluation-harness and the OpenAI SDK use it (issue 24).

/// log p(ids[t] | ids[..t]) for t ≥ 1 and the log-softmax rows, from the model directly.
pub fn prompt_logprobs(model: &Gpt, ids: &[u32]) -> (Vec<f64>, Vec<Vec<f64>>) {
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
