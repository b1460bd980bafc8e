//! The model worker: one dedicated thread owns every model and runs all tensor work, fed by a
//! bounded queue. Burn's tensor operations are synchronous and use the CPU fully, so they stay
//! off the tokio runtime, which is left free to accept connections and stream answers.
//!
//! Each turn of the loop:
//! 1. takes queued jobs (blocking only when nothing is being generated), at most as many new
//!    generations as free decoding slots (`max_batch`);
//! 2. runs the classification requests it took, one forward pass per task model for all of them;
//! 3. scores texts;
//! 4. prefills each new generation's prompt into its own key/value cache and samples its first
//!    token: from the next step on it decodes with the others (continuous batching);
//! 5. runs ONE decoding step for every active generation: [`Gpt::forward_decode_each`] batches
//!    the dense layers over all sequences, attention runs over each sequence's own cache.
//!
//! A generation ends when it has its tokens, meets a stop sequence, or its client is gone (the
//! receiving end of its event channel was dropped: a closed stream or an abandoned response).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burn::tensor::{Device, Tensor, TensorData};
use tokio::sync::{mpsc::UnboundedSender, oneshot};

use super::error::ApiError;
use super::metrics::Metrics;
use super::text::{piece_bytes, CompletionText, Step};
use crate::finetune::classifier::Classifier;
use crate::finetune::{EncodedExample, Prediction};
use crate::generate::{sample_next, SamplingConfig};
use crate::host::{ids_row, HostValues};
use crate::model::KvCache;
use crate::rng::Draws;
use crate::{Gpt, GptConfig};

/// How a generation is to be made.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    pub sampling: SamplingConfig,
    pub stop: Vec<String>,
    /// Report the chosen token's log-probability and this many alternatives.
    pub logprobs: Option<usize>,
    /// Send the prompt's tokens (with their log-probabilities when `logprobs` is set) first.
    pub echo: bool,
    /// GPT-1's clean-up of the text (`text::clean_up_tokenization`).
    pub clean_up: bool,
}

/// One prompt token as echoed: its id, log p(token | the tokens before it) (None for the
/// first, which has no context) and the most likely tokens at its position.
#[derive(Debug, Clone)]
pub struct EchoToken {
    pub id: u32,
    pub logprob: Option<f32>,
    pub top: Vec<(u32, f32)>,
}

/// What a generation sends back, token by token.
#[derive(Debug, Clone)]
pub enum GenEvent {
    /// The prompt's tokens, before any generated one (only with `echo`).
    Prompt(Vec<EchoToken>),
    Token {
        id: u32,
        /// Text released with this token (empty while a stop sequence's prefix is held).
        text: String,
        /// log p(token) under the model (temperature 1, before top-k/top-p).
        logprob: f32,
        /// The most likely tokens and their log-probabilities, when asked for.
        top: Vec<(u32, f32)>,
    },
    Done {
        finish_reason: &'static str,
        /// Held text released at the end.
        tail: String,
        prompt_tokens: usize,
        completion_tokens: usize,
    },
    Failed(String),
}

pub enum Job {
    Generate {
        prompt: Vec<u32>,
        params: GenerateParams,
        events: UnboundedSender<GenEvent>,
    },
    Score {
        ids: Vec<u32>,
        reply: oneshot::Sender<Result<Vec<f32>, String>>,
    },
    Classify {
        task: usize,
        example: EncodedExample,
        reply: oneshot::Sender<Result<Prediction, String>>,
    },
}

/// A job with the time it was queued.
struct Queued(Job, Instant);

/// What the worker loads, and how it batches.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub lm_dir: PathBuf,
    pub task_dirs: Vec<PathBuf>,
    pub backend: String,
    /// The inference precision of the language model and of the task models' decoders.
    pub precision: crate::precision::Precision,
    /// Generations decoded together at most; 1 serves one request at a time.
    pub max_batch: usize,
    /// Jobs that may wait in the queue.
    pub max_queue: usize,
    /// Sleep after each decoding step (tests: keeps a generation in flight long enough to watch).
    pub step_delay: Duration,
}

/// The handlers' side of the worker: submit jobs, never block.
pub struct WorkerHandle {
    tx: SyncSender<Queued>,
    metrics: Arc<Metrics>,
}

impl WorkerHandle {
    /// Queues a job, or refuses it with 429 when the queue is full.
    pub fn submit(&self, job: Job) -> Result<(), ApiError> {
        self.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
        let refused = |status, message: &str| {
            self.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
            Err(ApiError::new(status, message))
        };
        match self.tx.try_send(Queued(job, Instant::now())) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.metrics.queue_rejected.fetch_add(1, Ordering::Relaxed);
                refused(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "the server is busy: its request queue is full; retry later",
                )
            }
            Err(TrySendError::Disconnected(_)) => refused(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the model worker has stopped",
            ),
        }
    }
}

/// Starts the worker thread and loads the models there (the thread owns them from then on).
/// Returns the handle and the configurations of the LM and of each task model, in order.
pub fn spawn(
    config: WorkerConfig,
    tokenizer: Arc<genpt_tokenizer::Tokenizer>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<(WorkerHandle, Vec<GptConfig>)> {
    let (tx, rx) = std::sync::mpsc::sync_channel(config.max_queue.max(1));
    let (loaded_tx, loaded_rx) = std::sync::mpsc::channel();
    let worker_metrics = metrics.clone();
    std::thread::Builder::new()
        .name("genpt-model".into())
        .spawn(move || {
            let worker = match Worker::load(&config, tokenizer, worker_metrics, rx) {
                Ok(worker) => worker,
                Err(e) => {
                    let _ = loaded_tx.send(Err(e));
                    return;
                }
            };
            let configs = std::iter::once(worker.lm.config().clone())
                .chain(worker.tasks.iter().map(|t| t.gpt.config().clone()))
                .collect();
            let _ = loaded_tx.send(Ok(configs));
            worker.run();
        })?;
    let configs = loaded_rx
        .recv()
        .map_err(|_| anyhow::anyhow!("the model worker stopped while loading"))??;
    Ok((WorkerHandle { tx, metrics }, configs))
}

/// One generation being decoded.
struct Sequence {
    cache: KvCache,
    draws: Draws,
    params: GenerateParams,
    prompt_len: usize,
    generated: usize,
    /// The last sampled token: the input of the next decoding step.
    last: u32,
    text: CompletionText,
    events: UnboundedSender<GenEvent>,
    enqueued: Instant,
}

struct Worker {
    lm: Gpt,
    tasks: Vec<Classifier>,
    device: Device,
    tokenizer: Arc<genpt_tokenizer::Tokenizer>,
    metrics: Arc<Metrics>,
    rx: Receiver<Queued>,
    max_batch: usize,
    step_delay: Duration,
    active: Vec<Sequence>,
}

/// Runs `f`, turning a panic into an error message: a bad step fails its requests, not the
/// server.
fn guarded<T>(metrics: &Metrics, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        metrics.worker_panics.fetch_add(1, Ordering::Relaxed);
        let what = crate::panic_text(&*panic).unwrap_or_else(|| "unknown panic".into());
        format!("the model failed on this request: {what}")
    })
}

/// The `n` most likely tokens of a log-softmax row, most likely first.
fn top_n(lp: &[f64], n: usize) -> Vec<(u32, f32)> {
    let mut order: Vec<u32> = (0..lp.len() as u32).collect();
    let n = n.min(order.len());
    if n > 0 {
        order.select_nth_unstable_by(n - 1, |&a, &b| lp[b as usize].total_cmp(&lp[a as usize]));
    }
    order.truncate(n);
    order.sort_by(|&a, &b| lp[b as usize].total_cmp(&lp[a as usize]));
    order.iter().map(|&t| (t, lp[t as usize] as f32)).collect()
}

/// A generation taken from the queue, not yet prefilled.
struct NewGeneration {
    prompt: Vec<u32>,
    params: GenerateParams,
    events: UnboundedSender<GenEvent>,
    enqueued: Instant,
}

/// Log-softmax of one row of logits, in f64.
fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let log_total = row
        .iter()
        .map(|&l| (l as f64 - max).exp())
        .sum::<f64>()
        .ln();
    row.iter().map(|&l| l as f64 - max - log_total).collect()
}

impl Worker {
    fn load(
        config: &WorkerConfig,
        tokenizer: Arc<genpt_tokenizer::Tokenizer>,
        metrics: Arc<Metrics>,
        rx: Receiver<Queued>,
    ) -> anyhow::Result<Self> {
        let device = crate::device::device(&config.backend).map_err(anyhow::Error::msg)?;
        let lm = config
            .precision
            .load_model(&config.lm_dir, &Default::default(), &device)?;
        // The task models' decoders in the language model's precision (their heads, one small
        // product each, stay fp32; the output matrix, which classification never reads, is not
        // packed).
        let tasks = config
            .task_dirs
            .iter()
            .map(|dir| {
                let mut task = crate::finetune::load(dir, &device)?;
                task.gpt = config
                    .precision
                    .for_classifier(task.gpt)
                    .map_err(anyhow::Error::msg)?;
                Ok(task)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            lm,
            tasks,
            device,
            tokenizer,
            metrics,
            rx,
            max_batch: config.max_batch.max(1),
            step_delay: config.step_delay,
            active: Vec::new(),
        })
    }

    fn run(mut self) {
        loop {
            let mut new = Vec::new();
            let mut scores = Vec::new();
            let mut classify: Vec<Vec<(EncodedExample, oneshot::Sender<_>)>> =
                (0..self.tasks.len()).map(|_| Vec::new()).collect();
            let mut sort = |Queued(job, enqueued): Queued, new: &mut Vec<NewGeneration>| {
                self.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
                match job {
                    Job::Generate {
                        prompt,
                        params,
                        events,
                    } => new.push(NewGeneration {
                        prompt,
                        params,
                        events,
                        enqueued,
                    }),
                    Job::Score { ids, reply } => scores.push((ids, reply)),
                    Job::Classify {
                        task,
                        example,
                        reply,
                    } => classify[task].push((example, reply)),
                }
            };
            if self.active.is_empty() {
                // Idle: wait for work. Every sender gone means the server has shut down.
                match self.rx.recv() {
                    Ok(job) => sort(job, &mut new),
                    Err(_) => return,
                }
            }
            while self.active.len() + new.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(job) => sort(job, &mut new),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            for (task, jobs) in classify.into_iter().enumerate() {
                self.classify(task, jobs);
            }
            for (ids, reply) in scores {
                if !reply.is_closed() {
                    let result = guarded(&self.metrics, || self.score(&ids));
                    let _ = reply.send(result);
                }
            }
            self.prefill(new);
            self.decode_step();
        }
    }

    fn classify(
        &self,
        task: usize,
        jobs: Vec<(EncodedExample, oneshot::Sender<Result<Prediction, String>>)>,
    ) {
        let jobs: Vec<_> = jobs.into_iter().filter(|(_, r)| !r.is_closed()).collect();
        if jobs.is_empty() {
            return;
        }
        self.metrics.observe_classify_batch(jobs.len());
        let examples: Vec<EncodedExample> = jobs.iter().map(|(e, _)| e.clone()).collect();
        let result = guarded(&self.metrics, || {
            crate::finetune::predict(&self.tasks[task], &examples, examples.len(), &self.device)
        });
        match result {
            Ok(predictions) => {
                for ((_, reply), prediction) in jobs.into_iter().zip(predictions) {
                    let _ = reply.send(Ok(prediction));
                }
            }
            Err(message) => {
                for (_, reply) in jobs {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }

    /// log p(ids[t+1] | ids[..=t]) for every t.
    fn score(&self, ids: &[u32]) -> Vec<f32> {
        let ids = ids_row(ids, &self.device);
        let hidden = self.lm.forward(ids.clone(), false).hidden;
        self.lm.next_token_logprobs(hidden, ids).host_values()
    }

    /// Next-token logits at the last position of each row of `hidden` [B, T, width].
    fn last_logits(&self, hidden: Tensor<3>) -> Vec<f32> {
        crate::generate::last_logits(&self.lm, hidden)
    }

    /// Starts the new generations of this turn: their prompts go through the model together in
    /// one right-padded forward pass (a real token never attends to the padding after it), then
    /// the batch's key/value cache is cut into one per sequence, each samples its first token,
    /// and those not finished join the decoding batch.
    fn prefill(&mut self, new: Vec<NewGeneration>) {
        let (new, cancelled): (Vec<_>, Vec<_>) =
            new.into_iter().partition(|g| !g.events.is_closed());
        self.metrics
            .generations_cancelled
            .fetch_add(cancelled.len() as u64, Ordering::Relaxed);
        if new.is_empty() {
            return;
        }
        let lens: Vec<usize> = new.iter().map(|g| g.prompt.len()).collect();
        self.metrics
            .prompt_tokens
            .fetch_add(lens.iter().sum::<usize>() as u64, Ordering::Relaxed);
        let result = guarded(&self.metrics, || {
            let width = *lens.iter().max().expect("at least one prompt");
            let mut padded = Vec::with_capacity(new.len() * width);
            for g in &new {
                padded.extend(g.prompt.iter().map(|&t| t as i64));
                padded.extend(std::iter::repeat_n(0, width - g.prompt.len()));
            }
            let ids = Tensor::from_data(TensorData::new(padded, [new.len(), width]), &self.device);
            let mut cache = KvCache::default();
            let hidden = self.lm.forward_cached(ids, &mut cache).hidden;
            (cache.split_rows(&lens), hidden)
        });
        let (caches, hidden) = match result {
            Ok(done) => done,
            Err(message) => {
                for g in new {
                    let _ = g.events.send(GenEvent::Failed(message.clone()));
                }
                return;
            }
        };
        let vocab = self.lm.config().vocab_size;
        let n_embd = hidden.dims()[2];
        for (b, (g, cache)) in new.into_iter().zip(caches).enumerate() {
            // The logits of every prompt position when echoing them with their
            // log-probabilities, else of the last one only (one sequence at a time: a long
            // prompt's rows over a large vocabulary are large).
            let len = g.prompt.len();
            let from = if g.params.echo && g.params.logprobs.is_some() {
                0
            } else {
                len - 1
            };
            let rows = len - from;
            let logits = guarded(&self.metrics, || {
                let h = hidden.clone().narrow(0, b, 1).narrow(1, from, rows);
                self.lm
                    .lm_logits(h.reshape([1, rows, n_embd]))
                    .host_values()
            });
            let logits = match logits {
                Ok(logits) => logits,
                Err(message) => {
                    let _ = g.events.send(GenEvent::Failed(message));
                    continue;
                }
            };
            self.metrics
                .observe_first_token(g.enqueued.elapsed().as_secs_f64());
            let mut sequence = Sequence {
                cache,
                draws: Draws::new(g.params.sampling.seed, 0),
                text: CompletionText::new(g.params.stop.clone(), g.params.clean_up),
                params: g.params,
                prompt_len: g.prompt.len(),
                generated: 0,
                last: 0,
                events: g.events,
                enqueued: g.enqueued,
            };
            if sequence.params.echo {
                // Row t predicts token t + 1; the first token has no prediction.
                let echoed = g
                    .prompt
                    .iter()
                    .enumerate()
                    .map(|(t, &id)| match sequence.params.logprobs {
                        Some(n) if t > 0 => {
                            let row = &logits[(t - 1) * vocab..t * vocab];
                            let lp = log_softmax(row);
                            EchoToken {
                                id,
                                logprob: Some(lp[id as usize] as f32),
                                top: top_n(&lp, n),
                            }
                        }
                        _ => EchoToken {
                            id,
                            logprob: None,
                            top: Vec::new(),
                        },
                    })
                    .collect();
                let _ = sequence.events.send(GenEvent::Prompt(echoed));
            }
            if sequence.params.sampling.max_new_tokens == 0 {
                // Scoring the prompt only (echo with max_tokens 0).
                self.finish(&mut sequence, "length");
                continue;
            }
            let last = &logits[(rows - 1) * vocab..rows * vocab];
            if !self.accept(&mut sequence, last) {
                self.active.push(sequence);
            }
        }
        self.metrics
            .active_sequences
            .store(self.active.len() as i64, Ordering::Relaxed);
    }

    /// Ends a generation: the held text is released (a stop sequence in it still counts).
    fn finish(&self, sequence: &mut Sequence, reason: &'static str) {
        let (tail, finish_reason) = match sequence.text.finish() {
            Step::Text(tail) => (tail, reason),
            Step::Stopped(tail) => (tail, "stop"),
        };
        let _ = sequence.events.send(GenEvent::Done {
            finish_reason,
            tail,
            prompt_tokens: sequence.prompt_len,
            completion_tokens: sequence.generated,
        });
        self.metrics
            .observe_generation(sequence.enqueued.elapsed().as_secs_f64());
    }

    /// Samples the sequence's next token from `logits` and sends it. True when the sequence is
    /// finished (its tokens made, a stop met, or its client gone).
    fn accept(&self, sequence: &mut Sequence, logits: &[f32]) -> bool {
        let id = sample_next(logits, &sequence.params.sampling, &mut sequence.draws);
        if Some(id) == self.tokenizer.eot_id() {
            // GPT-2's <|endoftext|> ends the document: the completion stops before it, as
            // `generate::generate_until` and OpenAI's API do.
            self.finish(sequence, "stop");
            return true;
        }
        let (logprob, top) = match sequence.params.logprobs {
            None => (f32::NAN, Vec::new()),
            Some(n) => {
                let lp = log_softmax(logits);
                (lp[id as usize] as f32, top_n(&lp, n))
            }
        };
        sequence.generated += 1;
        sequence.last = id;
        self.metrics
            .tokens_generated
            .fetch_add(1, Ordering::Relaxed);
        let (text, stopped) = match sequence.text.push(&piece_bytes(&self.tokenizer, id)) {
            Step::Text(text) => (text, false),
            Step::Stopped(text) => (text, true),
        };
        let sent = sequence.events.send(GenEvent::Token {
            id,
            text,
            logprob,
            top,
        });
        if sent.is_err() {
            self.metrics
                .generations_cancelled
                .fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if stopped {
            let _ = sequence.events.send(GenEvent::Done {
                finish_reason: "stop",
                tail: String::new(),
                prompt_tokens: sequence.prompt_len,
                completion_tokens: sequence.generated,
            });
            self.metrics
                .observe_generation(sequence.enqueued.elapsed().as_secs_f64());
            return true;
        }
        if sequence.generated < sequence.params.sampling.max_new_tokens {
            return false;
        }
        self.finish(sequence, "length");
        true
    }

    /// One decoding step for every active generation, in one batched forward pass.
    fn decode_step(&mut self) {
        // Clients that went away: their generations stop here.
        let before = self.active.len();
        self.active.retain(|s| !s.events.is_closed());
        self.metrics
            .generations_cancelled
            .fetch_add((before - self.active.len()) as u64, Ordering::Relaxed);
        if !self.active.is_empty() {
            self.metrics.observe_decode_batch(self.active.len());
            let ids: Vec<u32> = self.active.iter().map(|s| s.last).collect();
            let mut active = std::mem::take(&mut self.active);
            let logits = guarded(&self.metrics, || {
                let mut caches: Vec<&mut KvCache> =
                    active.iter_mut().map(|s| &mut s.cache).collect();
                let hidden = self.lm.forward_decode_each(&ids, &mut caches).hidden;
                self.last_logits(hidden)
            });
            match logits {
                Ok(logits) => {
                    let vocab = logits.len() / active.len();
                    let mut rows = logits.chunks(vocab);
                    active.retain_mut(|s| {
                        !self.accept(s, rows.next().expect("one row per sequence"))
                    });
                    self.active = active;
                }
                Err(message) => {
                    // The caches may be half-updated: every sequence of the step fails.
                    for s in active {
                        let _ = s.events.send(GenEvent::Failed(message.clone()));
                    }
                }
            }
            if !self.step_delay.is_zero() {
                std::thread::sleep(self.step_delay);
            }
        }
        self.metrics
            .active_sequences
            .store(self.active.len() as i64, Ordering::Relaxed);
    }
}
