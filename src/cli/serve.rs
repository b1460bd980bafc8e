//! `genpt serve`: the language model and fine-tuned classifiers over HTTP (`crate::serve`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::BackendArgs;
use crate::serve::{Limits, ServeConfig};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The language model for /v1/completions and /v1/score: any model directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Tokenizer directory; the model directory's own vocabulary files when omitted.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// The id of the language model in /v1/models and requests.
    #[arg(long, default_value = "genpt")]
    pub model_name: String,
    /// A fine-tuned model for /v1/classify, as NAME=DIR (repeatable). The directory carries its
    /// task (task.json), labels and tokenizer.
    #[arg(long = "task-model", value_name = "NAME=DIR", value_parser = parse_task_model)]
    pub task_models: Vec<(String, PathBuf)>,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Generations decoded together in one forward pass per step, at most (1: one request at a
    /// time).
    #[arg(long, default_value_t = 32)]
    pub max_batch: usize,
    /// Requests waiting for the model, at most; more are refused with 429.
    #[arg(long, default_value_t = 128)]
    pub max_queue: usize,
    /// Tokens of a prompt (or a text to score or classify), at most [default: the context].
    #[arg(long)]
    pub max_prompt_tokens: Option<usize>,
    /// The largest max_tokens a completion may ask for.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// Bytes of a request body, at most; larger bodies are refused with 413.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Require `Authorization: Bearer KEY` on every endpoint but /health (read from the
    /// environment variable GENPT_API_KEY when the flag is not given: keeps the key out of `ps`).
    #[arg(long, env = "GENPT_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Sleep after each decoding step, in milliseconds (tests).
    #[arg(long, default_value_t = 0, hide = true)]
    pub step_delay_ms: u64,
    #[command(flatten)]
    pub precision: super::InferencePrecisionArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

fn parse_task_model(value: &str) -> Result<(String, PathBuf), String> {
    match value.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !dir.is_empty() => {
            Ok((name.to_string(), PathBuf::from(dir)))
        }
        _ => Err(format!("expected NAME=DIR, got {value:?}")),
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServeConfig {
        model: args.model,
        tokenizer: args.tokenizer,
        model_name: args.model_name,
        task_models: args.task_models,
        backend: args.backend.backend,
        precision: args.precision.precision,
        limits: Limits {
            max_batch: args.max_batch,
            max_queue: args.max_queue,
            max_prompt_tokens: args.max_prompt_tokens,
            max_tokens: args.max_tokens,
            max_body_bytes: args.max_body_bytes,
        },
        step_delay: Duration::from_millis(args.step_delay_ms),
        api_key: args.api_key,
    };
    let state = crate::serve::AppState::load(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr).await?;
        // The bound address, on stdout: with port 0 this is how callers learn the port.
        println!("listening on http://{}", listener.local_addr()?);
        let local = listener.local_addr()?.ip().is_loopback();
        if !local && state.api_key.is_none() {
            eprintln!(
                "warning: listening beyond loopback without --api-key: anyone who can reach \
                 this port can use the server"
            );
        }
        eprintln!(
            "serving {} (language model){}",
            state.lm.name,
            state
                .tasks
                .iter()
                .map(|t| format!(", {} ({} {:?})", t.name, t.info.task, t.info.kind))
                .collect::<String>()
        );
        crate::serve::serve(listener, state, crate::serve::shutdown_signal()).await?;
        eprintln!("all requests answered; exiting");
        anyhow::Ok(())
    })
}
