//! The endpoints: request shapes, validation (each violation a 4xx with a message, checked
//! before anything is queued), and answers. Model work goes to the worker; tokenizing is done
//! here, since it is cheap and needs no model.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt as _;
use genpt_tasks::{Example, Input, InputForm};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::error::{ApiError, JsonBody};
use super::text::{clean_up_tokenization, join_pieces, piece_bytes, piece_text};
use super::worker::{EchoToken, GenEvent, GenerateParams, Job};
use super::{AppState, TaskModel};
use crate::finetune::task_data;
use crate::generate::SamplingConfig;

type Shared = State<Arc<AppState>>;

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .route("/", get(page))
        .route("/v1/completions", post(completions))
        .route("/v1/score", post(score))
        .route("/v1/classify", post(classify))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            reject_declared_oversize,
        ))
        // After routing, so that the endpoint label is the route, not the raw path.
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(body_limit))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Outermost: a request without the key learns nothing, not even which paths exist.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
        ))
        .with_state(state)
}

/// The web page at `/`: a prompt with a streamed completion, the tokenizer's view, and a form
/// per classifier. Static, inside the binary; it calls the API below from the browser, with
/// the key the person gives it.
async fn page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("page.html"))
}

/// With `--api-key`, every endpoint but `/health` (for load balancers and orchestrators) and
/// the page at `/` (static; it asks for the key and sends it with its calls) needs
/// `Authorization: Bearer KEY`; anything else gets 401 with a JSON error.
async fn require_api_key(State(state): Shared, request: Request, next: Next) -> Response {
    let Some(key) = state.api_key.as_deref() else {
        return next.run(request).await;
    };
    let page = request.method() == axum::http::Method::GET && request.uri().path() == "/";
    if page || request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if keys_match(given.trim().as_bytes(), key.as_bytes()) => {
            next.run(request).await
        }
        _ => {
            state.metrics.record_request("unauthorized", 401, 0.0);
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong API key: send the header `Authorization: Bearer KEY`",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Bearer".parse().unwrap());
            response
        }
    }
}

/// Compares two keys in time that depends on their lengths only, not on where they differ.
fn keys_match(given: &[u8], key: &[u8]) -> bool {
    let mut difference = given.len() ^ key.len();
    for (i, &k) in key.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!k);
        difference |= usize::from(g ^ k);
    }
    difference == 0
}

/// A body whose declared length is over the limit is refused from its headers, before a byte of
/// it is read: a client that sent `Expect: 100-continue` (curl does for large bodies) then never
/// sends it, and gets its 413 instead of a reset connection.
async fn reject_declared_oversize(State(state): Shared, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.limits.max_body_bytes as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is larger than the server accepts (--max-body-bytes)".to_string(),
        )
        .into_response();
    }
    next.run(request).await
}

/// Counts each answered request by endpoint and status, with its latency.
async fn track(State(state): Shared, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", |p| p.as_str())
        .to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    state.metrics.record_request(
        &endpoint,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

async fn not_found(State(state): Shared, request: Request) -> ApiError {
    state.metrics.record_request("other", 404, 0.0);
    ApiError::not_found(format!(
        "no endpoint {} {}; see GET /v1/models, POST /v1/completions, /v1/score, /v1/classify, \
         /tokenize, /detokenize, GET /health, /metrics",
        request.method(),
        request.uri().path()
    ))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks that `model` (when given) names the language model.
fn check_lm(state: &AppState, model: Option<&str>) -> Result<(), ApiError> {
    match model {
        None => Ok(()),
        Some(name) if name == state.lm.name => Ok(()),
        Some(name) if state.tasks.iter().any(|t| t.name == name) => Err(ApiError::bad_request(
            format!("{name:?} is a fine-tuned classifier; use POST /v1/classify"),
        )),
        Some(name) => Err(ApiError::not_found(format!(
            "model {name:?} is not served (the language model is {:?}; see GET /v1/models)",
            state.lm.name
        ))),
    }
}

/// The text's tokens, refusing an empty text or one longer than allowed.
fn prompt_tokens(state: &AppState, what: &str, text: &str) -> Result<Vec<u32>, ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(format!("{what} is empty")));
    }
    let ids = state.lm.tokenizer.encode(text);
    if ids.is_empty() {
        return Err(ApiError::bad_request(format!("{what} has no tokens")));
    }
    let limit = state
        .limits
        .max_prompt_tokens
        .unwrap_or(state.lm.n_positions)
        .min(state.lm.n_positions);
    if ids.len() > limit {
        return Err(ApiError::bad_request(format!(
            "{what} has {} tokens; at most {limit} are accepted (the model's context is {})",
            ids.len(),
            state.lm.n_positions
        )));
    }
    Ok(ids)
}

// ---------------------------------------------------------------------------------------------
// POST /v1/completions

/// Every field of OpenAI's completion request, and genpt's own (`top_k`,
/// `clean_up_tokenization_spaces`). Any other field is refused by name (`deny_unknown_fields`),
/// and an OpenAI field genpt does not implement is refused unless it has its neutral value:
/// nothing a client asks for is silently ignored. `user` is accepted and not used.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompletionRequest {
    model: Option<String>,
    /// A string, a list of strings, a list of token ids, or a list of lists of token ids.
    prompt: Value,
    max_tokens: Option<usize>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<usize>,
    seed: Option<u64>,
    /// A string or up to four strings.
    stop: Option<Value>,
    logprobs: Option<usize>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<Value>,
    n: Option<usize>,
    echo: Option<bool>,
    best_of: Option<usize>,
    suffix: Option<String>,
    logit_bias: Option<Value>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    #[allow(dead_code)] // accepted: an end-user id for the operator's logs, unused here
    user: Option<String>,
    /// GPT-1 only: transformers' clean-up of the text (" ." → ".", ...); default true.
    clean_up_tokenization_spaces: Option<bool>,
}

/// OpenAI's API takes 4 stop sequences; lm-evaluation-harness's `generate_until` sends its
/// task's whole `until` list (often more, with the end-of-text added), and vLLM and llama.cpp's
/// server accept such lists. genpt takes up to 16, each checked as the text grows.
const MAX_STOPS: usize = 16;
const MAX_LOGPROBS: usize = 5;
const DEFAULT_MAX_TOKENS: usize = 16;

/// One prompt of a request, as text or as token ids.
enum Prompt {
    Text(String),
    Ids(Vec<u32>),
}

const PROMPT_FORMS: &str =
    "a string, a list of strings, a list of token ids, or a list of lists of token ids";

/// The prompts of `prompt` in any of OpenAI's four forms; ids outside the vocabulary are refused
/// with their index.
fn parse_prompts(value: &Value, vocab_size: usize) -> Result<Vec<Prompt>, ApiError> {
    let ids = |items: &[Value], at: &dyn Fn(usize) -> String| -> Result<Vec<u32>, ApiError> {
        items
            .iter()
            .enumerate()
            .map(|(j, v)| match v.as_u64() {
                Some(id) if id < vocab_size as u64 => Ok(id as u32),
                Some(id) => Err(ApiError::bad_request(format!(
                    "{}: token id {id} is outside the vocabulary (ids 0 to {})",
                    at(j),
                    vocab_size - 1
                ))),
                None => Err(ApiError::bad_request(format!(
                    "{}: {v} is not a token id",
                    at(j)
                ))),
            })
            .collect()
    };
    match value {
        Value::String(s) => Ok(vec![Prompt::Text(s.clone())]),
        Value::Array(items) if items.is_empty() => {
            Err(ApiError::bad_request("prompt is an empty list"))
        }
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .iter()
            .map(|v| Prompt::Text(v.as_str().unwrap().to_string()))
            .collect()),
        Value::Array(items) if items.iter().all(Value::is_number) => {
            Ok(vec![Prompt::Ids(ids(items, &|j| format!("prompt[{j}]"))?)])
        }
        Value::Array(items) if items.iter().all(Value::is_array) => items
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let row = row.as_array().unwrap();
                Ok(Prompt::Ids(ids(row, &|j| format!("prompt[{i}][{j}]"))?))
            })
            .collect(),
        other => Err(ApiError::bad_request(format!(
            "prompt must be {PROMPT_FORMS}; got {other}"
        ))),
    }
}

fn stop_strings(value: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let stops: Vec<String> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::bad_request(format!("stop: {v} is not a string")))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "stop must be a string or an array of strings, got {other}"
            )))
        }
    };
    if stops.len() > MAX_STOPS {
        return Err(ApiError::bad_request(format!(
            "stop: at most {MAX_STOPS} sequences"
        )));
    }
    if stops.iter().any(String::is_empty) {
        return Err(ApiError::bad_request("stop: a stop sequence is empty"));
    }
    Ok(stops)
}

/// A seed for requests that give none: a different stream each time.
fn fresh_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    nanos
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// OpenAI fields genpt does not implement: refused by name unless they hold their neutral value.
fn refuse_unimplemented(r: &CompletionRequest) -> Result<(), ApiError> {
    let refuse = |field: &str, why: &str| {
        Err(ApiError::bad_request(format!(
            "{field}: {why} is not supported by genpt serve"
        )))
    };
    if r.n.is_some_and(|n| n != 1) {
        return refuse(
            "n",
            "more than one completion per prompt (repeat the prompt in a list, with a seed)",
        );
    }
    if r.best_of.is_some_and(|n| n > 1) {
        return refuse("best_of", "best_of above 1");
    }
    if r.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return refuse("suffix", "a suffix (insertion)");
    }
    match &r.logit_bias {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) if map.is_empty() => {}
        Some(_) => return refuse("logit_bias", "a logit bias"),
    }
    if r.presence_penalty.is_some_and(|p| p != 0.0) {
        return refuse("presence_penalty", "a presence penalty other than 0");
    }
    if r.frequency_penalty.is_some_and(|p| p != 0.0) {
        return refuse("frequency_penalty", "a frequency penalty other than 0");
    }
    match &r.stream_options {
        None | Some(Value::Null) => {}
        // Usage comes in each choice's last chunk whether or not it is asked for.
        Some(Value::Object(map)) if map.keys().all(|k| k == "include_usage") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "stream_options: only include_usage is supported, got {other}"
            )))
        }
    }
    Ok(())
}

/// The completion request, checked: each prompt's tokens and the shared parameters.
struct Validated {
    prompts: Vec<Vec<u32>>,
    params: GenerateParams,
}

fn validate_completion(state: &AppState, r: &CompletionRequest) -> Result<Validated, ApiError> {
    check_lm(state, r.model.as_deref())?;
    refuse_unimplemented(r)?;
    let echo = r.echo.unwrap_or(false);
    let parsed = parse_prompts(&r.prompt, state.lm.vocab_size)?;
    if parsed.len() > state.limits.max_queue {
        return Err(ApiError::bad_request(format!(
            "prompt: {} prompts in one request; at most {} (the server's queue)",
            parsed.len(),
            state.limits.max_queue
        )));
    }
    let limit = state
        .limits
        .max_prompt_tokens
        .unwrap_or(state.lm.n_positions)
        .min(state.lm.n_positions);
    let name = |i: usize| {
        if parsed.len() == 1 {
            "the prompt".to_string()
        } else {
            format!("prompt[{i}]")
        }
    };
    let prompts = parsed
        .iter()
        .enumerate()
        .map(|(i, p)| match p {
            Prompt::Text(text) => prompt_tokens(state, &name(i), text),
            Prompt::Ids(ids) if ids.is_empty() => {
                Err(ApiError::bad_request(format!("{} is empty", name(i))))
            }
            Prompt::Ids(ids) if ids.len() > limit => Err(ApiError::bad_request(format!(
                "{} has {} tokens; at most {limit} are accepted (the model's context is {})",
                name(i),
                ids.len(),
                state.lm.n_positions
            ))),
            Prompt::Ids(ids) => Ok(ids.clone()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let max_tokens = r.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if max_tokens > state.limits.max_tokens || (max_tokens == 0 && !echo) {
        return Err(ApiError::bad_request(format!(
            "max_tokens must be between 1 and {} (got {max_tokens}; 0 is allowed with echo, to \
             score the prompt)",
            state.limits.max_tokens
        )));
    }
    // The last generated token is never fed back, so it needs no position of its own.
    for (i, prompt) in prompts.iter().enumerate() {
        if prompt.len() + max_tokens.saturating_sub(1) > state.lm.n_positions {
            return Err(ApiError::bad_request(format!(
                "{}'s {} tokens plus max_tokens {max_tokens} exceed the model's context of {} \
                 tokens",
                name(i),
                prompt.len(),
                state.lm.n_positions
            )));
        }
    }
    let temperature = r.temperature.unwrap_or(1.0);
    if !(0.0..=100.0).contains(&temperature) {
        return Err(ApiError::bad_request(format!(
            "temperature must be between 0 and 100 (got {temperature})"
        )));
    }
    let top_p = r.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::bad_request(format!(
            "top_p must be in (0, 1] (got {top_p})"
        )));
    }
    if r.logprobs.is_some_and(|n| n > MAX_LOGPROBS) {
        return Err(ApiError::bad_request(format!(
            "logprobs: at most {MAX_LOGPROBS}"
        )));
    }
    let gpt1 = state.lm.tokenizer.kind() == genpt_tokenizer::TokenizerKind::Gpt1;
    Ok(Validated {
        prompts,
        params: GenerateParams {
            sampling: SamplingConfig {
                temperature,
                top_k: r.top_k.unwrap_or(0),
                top_p,
                seed: r.seed.unwrap_or_else(fresh_seed),
                max_new_tokens: max_tokens,
            },
            stop: stop_strings(r.stop.as_ref())?,
            logprobs: r.logprobs,
            echo,
            clean_up: gpt1 && r.clean_up_tokenization_spaces.unwrap_or(true),
        },
    })
}

/// OpenAI's `logprobs` object for some tokens; the first echoed prompt token has no
/// log-probability and no alternatives (null).
#[derive(Default)]
struct Logprobs {
    tokens: Vec<String>,
    token_logprobs: Vec<Option<f32>>,
    top_logprobs: Vec<Option<serde_json::Map<String, Value>>>,
    text_offset: Vec<usize>,
}

impl Logprobs {
    fn push(
        &mut self,
        state: &AppState,
        id: u32,
        logprob: Option<f32>,
        top: &[(u32, f32)],
        offset: usize,
    ) {
        let tokenizer = &state.lm.tokenizer;
        self.tokens.push(piece_text(tokenizer, id));
        self.token_logprobs.push(logprob);
        self.top_logprobs.push(logprob.map(|_| {
            top.iter()
                .map(|&(t, lp)| (piece_text(tokenizer, t), json!(lp)))
                .collect()
        }));
        self.text_offset.push(offset);
    }

    /// The echoed prompt: its tokens with their offsets in `echo_text`.
    fn echo(state: &AppState, tokens: &[EchoToken], clean_up: bool) -> (String, Self) {
        let pieces: Vec<Vec<u8>> = tokens
            .iter()
            .map(|t| piece_bytes(&state.lm.tokenizer, t.id))
            .collect();
        let (text, offsets) = join_pieces(&pieces, clean_up);
        let mut logprobs = Self::default();
        for (token, offset) in tokens.iter().zip(offsets) {
            logprobs.push(state, token.id, token.logprob, &token.top, offset);
        }
        (text, logprobs)
    }

    fn extend(&mut self, other: Self) {
        self.tokens.extend(other.tokens);
        self.token_logprobs.extend(other.token_logprobs);
        self.top_logprobs.extend(other.top_logprobs);
        self.text_offset.extend(other.text_offset);
    }

    fn to_json(&self) -> Value {
        json!({
            "tokens": self.tokens,
            "token_logprobs": self.token_logprobs,
            "top_logprobs": self.top_logprobs,
            "text_offset": self.text_offset,
        })
    }
}

async fn completions(
    State(state): Shared,
    JsonBody(request): JsonBody<CompletionRequest>,
) -> Result<Response, ApiError> {
    let Validated { prompts, params } = validate_completion(&state, &request)?;
    // One job per prompt: the worker prefills the prompts it takes in one turn together and
    // decodes all active generations in one batch.
    let mut receivers = Vec::with_capacity(prompts.len());
    for prompt in prompts {
        let (tx, rx) = mpsc::unbounded_channel();
        state.worker.submit(Job::Generate {
            prompt,
            params: params.clone(),
            events: tx,
        })?;
        receivers.push(rx);
    }
    let id = format!("cmpl-{}", state.next_id.fetch_add(1, Ordering::Relaxed));
    let created = unix_now();
    if request.stream {
        Ok(stream_completion(state, receivers, id, created, params).into_response())
    } else {
        let choices = futures_util::future::join_all(
            receivers
                .into_iter()
                .enumerate()
                .map(|(index, rx)| collect_choice(state.clone(), rx, index, params.clone())),
        )
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let (prompt_tokens, completion_tokens) = choices
            .iter()
            .fold((0, 0), |(p, c), (_, u)| (p + u.0, c + u.1));
        Ok(Json(json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": state.lm.name,
            "choices": choices.into_iter().map(|(c, _)| c).collect::<Vec<_>>(),
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }))
        .into_response())
    }
}

/// One prompt's whole choice, with its (prompt, completion) token counts. If the client goes
/// away, this future is dropped with `rx`, and the worker stops the generation at its next step.
async fn collect_choice(
    state: Arc<AppState>,
    mut rx: mpsc::UnboundedReceiver<GenEvent>,
    index: usize,
    params: GenerateParams,
) -> Result<(Value, (usize, usize)), ApiError> {
    let want_logprobs = params.logprobs.is_some();
    let mut text = String::new();
    let mut logprobs = Logprobs::default();
    // Offsets of completion tokens: the echoed text, then each token's own text.
    let mut offset = 0;
    while let Some(event) = rx.recv().await {
        match event {
            GenEvent::Prompt(tokens) => {
                let (echo_text, echo_logprobs) = Logprobs::echo(&state, &tokens, params.clean_up);
                text.push_str(&echo_text);
                offset = text.len();
                logprobs.extend(echo_logprobs);
            }
            GenEvent::Token {
                id: token,
                text: delta,
                logprob,
                top,
            } => {
                if want_logprobs {
                    logprobs.push(&state, token, Some(logprob), &top, offset);
                    offset += piece_text(&state.lm.tokenizer, token).len();
                }
                text.push_str(&delta);
            }
            GenEvent::Done {
                finish_reason,
                tail,
                prompt_tokens,
                completion_tokens,
            } => {
                text.push_str(&tail);
                let choice = json!({
                    "text": text,
                    "index": index,
                    "logprobs": if want_logprobs { logprobs.to_json() } else { Value::Null },
                    "finish_reason": finish_reason,
                });
                return Ok((choice, (prompt_tokens, completion_tokens)));
            }
            GenEvent::Failed(message) => return Err(ApiError::internal(message)),
        }
    }
    Err(ApiError::internal("the generation ended without an answer"))
}

/// Server-Sent Events: per choice, the echoed prompt (with `echo`), one `text_completion` chunk
/// per token, and a last chunk with its finish reason and usage; when every choice has ended,
/// `data: [DONE]`. The choices of a batch are interleaved as their tokens come, each chunk
/// naming its `index`. When the client disconnects, hyper drops this stream and with it the
/// receivers: the worker sees the closed channels and stops the generations.
fn stream_completion(
    state: Arc<AppState>,
    receivers: Vec<mpsc::UnboundedReceiver<GenEvent>>,
    id: String,
    created: u64,
    params: GenerateParams,
) -> impl IntoResponse {
    let want_logprobs = params.logprobs.is_some();
    let choices = receivers.len();
    let chunk = move |state: &AppState,
                      index: usize,
                      text: &str,
                      logprobs: Value,
                      finish: Value,
                      usage: Value| {
        let mut body = json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": state.lm.name,
            "choices": [{ "text": text, "index": index, "logprobs": logprobs, "finish_reason": finish }],
        });
        if !usage.is_null() {
            body["usage"] = usage;
        }
        Event::default().data(body.to_string())
    };
    // Each choice's events, tagged with its index, merged in arrival order.
    let tagged = receivers.into_iter().enumerate().map(|(index, rx)| {
        futures_util::stream::unfold(rx, move |mut rx| async move {
            rx.recv().await.map(|event| ((index, event), rx))
        })
        .boxed()
    });
    let merged = futures_util::stream::select_all(tagged);
    // State: the merged events, the choices still open, each choice's text offset.
    let stream = futures_util::stream::unfold(
        (merged, choices, vec![0usize; choices]),
        move |(mut merged, open, mut offsets)| {
            let state = state.clone();
            let chunk = chunk.clone();
            async move {
                if open == 0 {
                    return None;
                }
                let done = || Event::default().data("[DONE]");
                let Some((index, event)) = merged.next().await else {
                    // Every sender gone without an end: the worker stopped.
                    let error = ApiError::internal("the generation ended without an answer");
                    let events = vec![Event::default().data(error.body().to_string()), done()];
                    let events = events.into_iter().map(Ok::<Event, Infallible>);
                    return Some((futures_util::stream::iter(events), (merged, 0, offsets)));
                };
                let (events, open) = match event {
                    GenEvent::Prompt(tokens) => {
                        let (text, logprobs) = Logprobs::echo(&state, &tokens, params.clean_up);
                        offsets[index] = text.len();
                        let logprobs = if want_logprobs {
                            logprobs.to_json()
                        } else {
                            Value::Null
                        };
                        let event = chunk(&state, index, &text, logprobs, Value::Null, Value::Null);
                        (vec![event], open)
                    }
                    GenEvent::Token {
                        id: token,
                        text,
                        logprob,
                        top,
                    } => {
                        let logprobs = if want_logprobs {
                            let mut l = Logprobs::default();
                            l.push(&state, token, Some(logprob), &top, offsets[index]);
                            l.to_json()
                        } else {
                            Value::Null
                        };
                        offsets[index] += piece_text(&state.lm.tokenizer, token).len();
                        let event = chunk(&state, index, &text, logprobs, Value::Null, Value::Null);
                        (vec![event], open)
                    }
                    GenEvent::Done {
                        finish_reason,
                        tail,
                        prompt_tokens,
                        completion_tokens,
                    } => {
                        let usage = json!({
                            "prompt_tokens": prompt_tokens,
                            "completion_tokens": completion_tokens,
                            "total_tokens": prompt_tokens + completion_tokens,
                        });
                        let last = chunk(
                            &state,
                            index,
                            &tail,
                            Value::Null,
                            json!(finish_reason),
                            usage,
                        );
                        let open = open - 1;
                        if open == 0 {
                            (vec![last, done()], 0)
                        } else {
                            (vec![last], open)
                        }
                    }
                    GenEvent::Failed(message) => {
                        let error = ApiError::internal(message).body().to_string();
                        (vec![Event::default().data(error), done()], 0)
                    }
                };
                let events = events.into_iter().map(Ok::<Event, Infallible>);
                Some((futures_util::stream::iter(events), (merged, open, offsets)))
            }
        },
    );
    Sse::new(futures_util::StreamExt::flatten(stream))
}

// ---------------------------------------------------------------------------------------------
// POST /v1/score

#[derive(Deserialize)]
struct ScoreRequest {
    model: Option<String>,
    text: String,
}

async fn score(
    State(state): Shared,
    JsonBody(request): JsonBody<ScoreRequest>,
) -> Result<Json<Value>, ApiError> {
    check_lm(&state, request.model.as_deref())?;
    let ids = prompt_tokens(&state, "the text", &request.text)?;
    if ids.len() < 2 {
        return Err(ApiError::bad_request(
            "the text has one token; scoring needs at least two (the first has no context)",
        ));
    }
    let (tx, rx) = oneshot::channel();
    state.worker.submit(Job::Score {
        ids: ids.clone(),
        reply: tx,
    })?;
    let logprobs = rx
        .await
        .map_err(|_| ApiError::internal("the model worker dropped the request"))?
        .map_err(ApiError::internal)?;
    let total: f64 = logprobs.iter().map(|&x| x as f64).sum();
    // The first token has no log-probability: nothing precedes it.
    let token_logprobs: Vec<Value> = std::iter::once(Value::Null)
        .chain(logprobs.iter().map(|&x| json!(x)))
        .collect();
    let tokens: Vec<String> = ids
        .iter()
        .map(|&i| piece_text(&state.lm.tokenizer, i))
        .collect();
    Ok(Json(json!({
        "model": state.lm.name,
        "ids": ids,
        "tokens": tokens,
        "token_logprobs": token_logprobs,
        "total_logprob": total,
        "mean_logprob": total / logprobs.len() as f64,
    })))
}

// ---------------------------------------------------------------------------------------------
// POST /v1/classify

#[derive(Deserialize)]
struct ClassifyRequest {
    model: Option<String>,
    /// The task's input: a string (text), two strings (pair), or an object with the task's
    /// field names (`TaskInfo::fields`).
    inputs: Value,
    /// Cut inputs longer than the context as fine-tuning did, instead of refusing them.
    #[serde(default)]
    truncate: bool,
}

fn find_task<'a>(state: &'a AppState, model: Option<&str>) -> Result<&'a TaskModel, ApiError> {
    let names = || {
        state
            .tasks
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match model {
        _ if state.tasks.is_empty() => Err(ApiError::not_found(
            "no fine-tuned model is served (start the server with --task-model NAME=DIR)",
        )),
        None if state.tasks.len() == 1 => Ok(&state.tasks[0]),
        None => Err(ApiError::bad_request(format!(
            "name the model: one of {}",
            names()
        ))),
        Some(name) => state.tasks.iter().find(|t| t.name == name).ok_or_else(|| {
            ApiError::not_found(format!(
                "no fine-tuned model {name:?} (served: {})",
                names()
            ))
        }),
    }
}

fn field_str(
    object: &serde_json::Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<String, ApiError> {
    match object.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) if !required => Ok(String::new()),
        None => Err(ApiError::bad_request(format!(
            "inputs: missing field {name:?}"
        ))),
        Some(other) => Err(ApiError::bad_request(format!(
            "inputs.{name} must be a string, got {other}"
        ))),
    }
}

/// The request's input in the task's form.
fn task_input(task: &TaskModel, inputs: &Value) -> Result<Input, ApiError> {
    let fields = &task.info.fields;
    let field = |i: usize| fields.get(i).map_or("", String::as_str);
    let input = match (task.info.input, inputs) {
        (InputForm::Text, Value::String(s)) => Input::Single(s.clone()),
        (InputForm::Text, Value::Object(o)) => Input::Single(field_str(o, field(0), true)?),
        (InputForm::Pair, Value::Array(items))
            if items.len() == 2 && items.iter().all(Value::is_string) =>
        {
            Input::Pair(
                items[0].as_str().unwrap().to_string(),
                items[1].as_str().unwrap().to_string(),
            )
        }
        (InputForm::Pair, Value::Object(o)) => {
            Input::Pair(field_str(o, field(0), true)?, field_str(o, field(1), true)?)
        }
        (InputForm::Choices, Value::Object(o)) => {
            let choices = match o.get("choices") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            ApiError::bad_request(format!("inputs.choices: {v} is not a string"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => {
                    return Err(ApiError::bad_request(
                        "inputs.choices must be an array of strings",
                    ))
                }
            };
            if let Some(n) = task.info.n_choices {
                if choices.len() != n {
                    return Err(ApiError::bad_request(format!(
                        "inputs.choices: this task has {n} choices, got {}",
                        choices.len()
                    )));
                }
            }
            if choices.is_empty() {
                return Err(ApiError::bad_request("inputs.choices is empty"));
            }
            Input::Choices {
                context: field_str(o, "context", true)?,
                question: field_str(o, "question", false)?,
                choices,
            }
        }
        (form, other) => {
            let expected = match form {
                InputForm::Text => format!("a string or {{\"{}\": ...}}", field(0)),
                InputForm::Pair => format!(
                    "two strings or {{\"{}\": ..., \"{}\": ...}}",
                    field(0),
                    field(1)
                ),
                InputForm::Choices => {
                    "{\"context\": ..., \"question\": ..., \"choices\": [...]}".to_string()
                }
            };
            return Err(ApiError::bad_request(format!(
                "inputs: task {} ({}) takes {expected}, got {other}",
                task.name, task.info.task
            )));
        }
    };
    let texts: Vec<&String> = match &input {
        Input::Single(t) => vec![t],
        Input::Pair(a, b) => vec![a, b],
        Input::Choices { context, .. } => vec![context],
    };
    if texts.iter().any(|t| t.trim().is_empty()) {
        return Err(ApiError::bad_request("inputs: a text is empty"));
    }
    Ok(input)
}

/// The longest sequence the input transformation makes before any truncation.
fn untruncated_len(task: &TaskModel, input: &Input) -> usize {
    let n = |t: &str| task.tokenizer.encode(t).len();
    match input {
        Input::Single(t) => n(t) + 2,
        Input::Pair(a, b) => n(a) + n(b) + 3,
        Input::Choices {
            context,
            question,
            choices,
        } => {
            let stem = n(context) + n(question);
            choices.iter().map(|c| stem + n(c) + 3).max().unwrap_or(0)
        }
    }
}

async fn classify(
    State(state): Shared,
    JsonBody(request): JsonBody<ClassifyRequest>,
) -> Result<Json<Value>, ApiError> {
    let task_index = {
        let task = find_task(&state, request.model.as_deref())?;
        state
            .tasks
            .iter()
            .position(|t| std::ptr::eq(t, task))
            .expect("the task is one of the server's")
    };
    let task = &state.tasks[task_index];
    let input = task_input(task, &request.inputs)?;
    let length = untruncated_len(task, &input);
    let limit = state
        .limits
        .max_prompt_tokens
        .unwrap_or(task.n_positions)
        .min(task.n_positions);
    if length > limit && !request.truncate {
        return Err(ApiError::bad_request(format!(
            "the input makes a sequence of {length} tokens; at most {limit} are accepted \
             (\"truncate\": true cuts it as fine-tuning did)"
        )));
    }
    let example = Example {
        id: format!("clf-{}", state.next_id.fetch_add(1, Ordering::Relaxed)),
        input,
        label: None,
    };
    let encoded = task_data::encode_examples(
        &task.tokenizer,
        task.specials,
        &task.info,
        std::slice::from_ref(&example),
        limit,
    )
    .map_err(|e| ApiError::bad_request(format!("{e:#}")))?
    .pop()
    .expect("one example in, one out");
    let (tx, rx) = oneshot::channel();
    state.worker.submit(Job::Classify {
        task: task_index,
        example: encoded,
        reply: tx,
    })?;
    let prediction = rx
        .await
        .map_err(|_| ApiError::internal("the model worker dropped the request"))?
        .map_err(ApiError::internal)?;
    let mut out = task_data::prediction_json(&task.info, &example, &prediction);
    out["model"] = json!(task.name);
    out["task"] = json!(task.info.task);
    Ok(Json(out))
}

// ---------------------------------------------------------------------------------------------
// POST /tokenize, POST /detokenize (llama.cpp's shapes)

#[derive(Deserialize)]
struct TokenizeRequest {
    model: Option<String>,
    content: String,
    #[serde(default)]
    with_pieces: bool,
}

#[derive(Deserialize)]
struct DetokenizeRequest {
    model: Option<String>,
    tokens: Vec<u32>,
    /// GPT-1 only: transformers' clean-up (" ." → ".", ...); default true.
    clean_up_tokenization_spaces: Option<bool>,
}

/// The tokenizer of the named model (the language model's when none is named).
fn tokenizer_for<'a>(
    state: &'a AppState,
    model: Option<&str>,
) -> Result<&'a genpt_tokenizer::Tokenizer, ApiError> {
    match model {
        None => Ok(&state.lm.tokenizer),
        Some(name) if name == state.lm.name => Ok(&state.lm.tokenizer),
        Some(name) => state
            .tasks
            .iter()
            .find(|t| t.name == name)
            .map(|t| &t.tokenizer)
            .ok_or_else(|| ApiError::not_found(format!("model {name:?} is not served"))),
    }
}

async fn tokenize(
    State(state): Shared,
    JsonBody(request): JsonBody<TokenizeRequest>,
) -> Result<Json<Value>, ApiError> {
    let tokenizer = tokenizer_for(&state, request.model.as_deref())?;
    let ids = tokenizer.encode(&request.content);
    let tokens: Vec<Value> = if request.with_pieces {
        ids.iter()
            .map(|&id| json!({ "id": id, "piece": piece_text(tokenizer, id) }))
            .collect()
    } else {
        ids.iter().map(|&id| json!(id)).collect()
    };
    Ok(Json(json!({ "tokens": tokens })))
}

async fn detokenize(
    State(state): Shared,
    JsonBody(request): JsonBody<DetokenizeRequest>,
) -> Result<Json<Value>, ApiError> {
    let tokenizer = tokenizer_for(&state, request.model.as_deref())?;
    if let Some(bad) = request
        .tokens
        .iter()
        .find(|&&id| tokenizer.piece(id).is_none())
    {
        return Err(ApiError::bad_request(format!(
            "token {bad} is not in the vocabulary"
        )));
    }
    // The tokens' bytes joined, then read as UTF-8: a character split between tokens is whole.
    let bytes: Vec<u8> = request
        .tokens
        .iter()
        .flat_map(|&id| super::text::piece_bytes(tokenizer, id))
        .collect();
    let mut content = String::from_utf8_lossy(&bytes).into_owned();
    if tokenizer.kind() == genpt_tokenizer::TokenizerKind::Gpt1 {
        // transformers' OpenAIGPTTokenizer.decode: the pieces joined, the end trimmed, then
        // (by default) the clean-up.
        content.truncate(content.trim_end().len());
        if request.clean_up_tokenization_spaces.unwrap_or(true) {
            content = clean_up_tokenization(&content);
        }
    }
    Ok(Json(json!({ "content": content })))
}

// ---------------------------------------------------------------------------------------------
// GET /v1/models, /health, /metrics

async fn models(State(state): Shared) -> Json<Value> {
    let created = unix_now();
    let mut data = vec![json!({
        "id": state.lm.name,
        "object": "model",
        "created": created,
        "owned_by": "genpt",
        "meta": { "kind": "language-model", "n_ctx": state.lm.n_positions, "vocab_size": state.lm.vocab_size },
    })];
    for task in &state.tasks {
        data.push(json!({
            "id": task.name,
            "object": "model",
            "created": created,
            "owned_by": "genpt",
            "meta": {
                "kind": "classifier",
                "task": task.info.task,
                "task_kind": task.info.kind,
                "input": task.info.input,
                "fields": task.info.fields,
                "labels": task.info.labels,
                "n_choices": task.info.n_choices,
                "n_ctx": task.n_positions,
            },
        }));
    }
    Json(json!({ "object": "list", "data": data }))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn metrics(State(state): Shared) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
