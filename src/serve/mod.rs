//! `genpt serve`: the models over HTTP, with the conventions of llama.cpp's server,
//! text-generation-inference and text-embeddings-inference.
//!
//! - [`routes`]: the endpoints (axum handlers), their JSON in and out, and request validation;
//! - [`worker`]: the thread that owns the models and batches their work (continuous batching of
//!   generations, shared forward passes for classification);
//! - [`text`]: completion text as tokens arrive, and stop sequences;
//! - [`metrics`]: Prometheus counters and histograms;
//! - [`error`]: every error as a JSON body.

pub mod error;
pub mod metrics;
pub mod routes;
pub mod text;
pub mod worker;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use genpt_tasks::{SpecialIds, TaskInfo};
use genpt_tokenizer::Tokenizer;

use crate::finetune::task_data;
use metrics::Metrics;
use worker::{WorkerConfig, WorkerHandle};

/// Everything the server is started with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The language model for completions and scores (any model directory).
    pub model: PathBuf,
    /// Its tokenizer; the model directory's own vocabulary files when None.
    pub tokenizer: Option<PathBuf>,
    /// The id `/v1/models` lists the language model under (requests may name it).
    pub model_name: String,
    /// Fine-tuned models for `/v1/classify`, by name. Each directory carries its task.json and
    /// tokenizer.
    pub task_models: Vec<(String, PathBuf)>,
    pub backend: String,
    /// The inference precision (`--precision`) of the language model and of the task models'
    /// decoders.
    pub precision: crate::precision::Precision,
    pub limits: Limits,
    /// Sleep after each decoding step: for tests that need a generation to stay in flight.
    pub step_delay: Duration,
    /// When set, every endpoint but /health needs `Authorization: Bearer KEY`.
    pub api_key: Option<String>,
}

/// What one request may ask for, and how much the server takes on.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Generations decoded together at most (1: one request at a time).
    pub max_batch: usize,
    /// Requests waiting for the model at most; more get 429.
    pub max_queue: usize,
    /// Tokens of a prompt (or of a text to score or classify) at most; None: the context.
    pub max_prompt_tokens: Option<usize>,
    /// `max_tokens` of a completion at most.
    pub max_tokens: usize,
    /// Bytes of a request body at most; larger bodies get 413.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch: 32,
            max_queue: 128,
            max_prompt_tokens: None,
            max_tokens: 512,
            max_body_bytes: 1 << 20,
        }
    }
}

/// The language model as the handlers see it (the weights live on the worker).
pub struct LanguageModel {
    pub name: String,
    pub tokenizer: Arc<Tokenizer>,
    pub n_positions: usize,
    pub vocab_size: usize,
}

/// A fine-tuned task model as the handlers see it.
pub struct TaskModel {
    pub name: String,
    pub info: TaskInfo,
    /// With the three special tokens added.
    pub tokenizer: Tokenizer,
    pub specials: SpecialIds,
    pub n_positions: usize,
}

/// What every handler shares.
pub struct AppState {
    pub lm: LanguageModel,
    pub tasks: Vec<TaskModel>,
    pub limits: Limits,
    pub worker: WorkerHandle,
    pub metrics: Arc<Metrics>,
    /// For response ids (`cmpl-N`).
    pub next_id: AtomicU64,
    pub api_key: Option<String>,
}

impl AppState {
    /// Loads the tokenizers and task descriptions here and the weights on the worker thread.
    pub fn load(config: &ServeConfig) -> anyhow::Result<Arc<Self>> {
        anyhow::ensure!(
            config.api_key.as_deref() != Some(""),
            "the API key is empty"
        );
        let (tokenizer, _) = crate::model_tokenizer::resolve_tokenizer(
            config.tokenizer.as_deref(),
            Some(&config.model),
        )?;
        let tokenizer = Arc::new(tokenizer);
        let mut seen = std::collections::HashSet::from([config.model_name.as_str()]);
        for (name, _) in &config.task_models {
            anyhow::ensure!(seen.insert(name), "the model name {name:?} is given twice");
        }
        let metrics = Arc::new(Metrics::default());
        let worker_config = WorkerConfig {
            lm_dir: config.model.clone(),
            task_dirs: config.task_models.iter().map(|(_, d)| d.clone()).collect(),
            backend: config.backend.clone(),
            precision: config.precision,
            max_batch: config.limits.max_batch,
            max_queue: config.limits.max_queue,
            step_delay: config.step_delay,
        };
        let (worker, model_configs) =
            worker::spawn(worker_config, tokenizer.clone(), metrics.clone())?;
        let lm_config = &model_configs[0];
        anyhow::ensure!(
            tokenizer.vocab_size() == lm_config.vocab_size,
            "the tokenizer has {} tokens but the model {} predicts {}",
            tokenizer.vocab_size(),
            config.model.display(),
            lm_config.vocab_size
        );
        let mut tasks = Vec::new();
        for ((name, dir), model_config) in config.task_models.iter().zip(&model_configs[1..]) {
            let info = task_data::model_task(dir)?;
            let (mut tokenizer, _) = crate::model_tokenizer::resolve_tokenizer(None, Some(dir))
                .with_context(|| format!("task model {name}"))?;
            let specials = task_data::add_specials(&mut tokenizer, model_config.vocab_size)
                .with_context(|| format!("task model {name} ({})", dir.display()))?;
            tasks.push(TaskModel {
                name: name.clone(),
                info,
                tokenizer,
                specials,
                n_positions: model_config.n_positions,
            });
        }
        Ok(Arc::new(Self {
            lm: LanguageModel {
                name: config.model_name.clone(),
                tokenizer,
                n_positions: lm_config.n_positions,
                vocab_size: lm_config.vocab_size,
            },
            tasks,
            limits: config.limits.clone(),
            worker,
            metrics,
            next_id: AtomicU64::new(1),
            api_key: config.api_key.clone(),
        }))
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then stops accepting connections
/// and waits for the requests in flight (streams included) to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = routes::router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("shutting down: finishing the requests in flight");
}
