//! `genpt serve`'s request bodies, through the real router in-process (deserialisation,
//! validation, and for what is valid the work itself on a tiny model): every POST endpoint gets
//! arbitrary bytes. Any status but a 5xx is fine; a panic, an abort, a hang or a 500 is not.
//!
//! Input layout: byte 0 = the endpoint (completions, score, classify, tokenize, detokenize),
//! then the body.

#![no_main]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, Request};
use genpt::finetune::classifier::new_classifier;
use genpt::finetune::{self as ft, Pooling};
use genpt::serve::{AppState, Limits, ServeConfig};
use genpt::surgery::add_special_rows;
use genpt::{Gpt, GptConfig};
use genpt_tasks::{CustomKind, InputForm, TaskInfo};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const ENDPOINTS: [&str; 5] = ["/v1/completions", "/v1/score", "/v1/classify", "/tokenize", "/detokenize"];

struct Server {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

/// A tiny random LM and a two-class task model, each with a BPE vocabulary trained on a few
/// sentences, served with small limits.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir: PathBuf = std::env::temp_dir().join(format!("genpt-fuzz-serve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sentences = vec!["the cat sat on the mat.", "a dog ran in the park with a red ball!"];
        let counts = genpt_tokenizer::train::count_words(sentences);
        let (encoder, merges) = genpt_tokenizer::train_bpe(&counts, 60, &|_| {});
        let tokenizer = dir.join("tokenizer");
        genpt_tokenizer::vocab::save(&tokenizer, &encoder, &merges).unwrap();
        let vocab = genpt_tokenizer::Tokenizer::from_dir(&tokenizer).unwrap().vocab_size();
        let config = GptConfig {
            vocab_size: vocab,
            n_special: 0,
            n_positions: 32,
            n_embd: 16,
            n_layer: 1,
            n_head: 2,
            ..GptConfig::gpt1()
        };
        let device = genpt::device::device("flex").unwrap();
        device.seed(7);
        let lm = dir.join("lm");
        genpt::weights::hf::save(&Gpt::new(&config, &device), &lm).unwrap();
        genpt_tokenizer::vocab::save(&lm, &encoder, &merges).unwrap();
        let gpt = add_special_rows(Gpt::new(&config, &device), 3, 1, &device);
        let task = dir.join("task");
        ft::save(&new_classifier(gpt, Pooling::Single, 2, 0.0, &device), &task).unwrap();
        let labels = vec!["negative".to_string(), "positive".to_string()];
        let info = TaskInfo::custom(CustomKind::Classification, InputForm::Text, labels, None, Default::default());
        genpt::finetune::task_data::attach(&task, &info, &tokenizer).unwrap();
        let state: Arc<AppState> = AppState::load(&ServeConfig {
            model: lm,
            tokenizer: None,
            model_name: "tiny".into(),
            task_models: vec![("sentiment".into(), task)],
            backend: "flex".into(),
            precision: Default::default(),
            limits: Limits {
                max_batch: 4,
                max_queue: 16,
                max_prompt_tokens: None,
                max_tokens: 16,
                max_body_bytes: 1 << 16,
            },
            step_delay: std::time::Duration::ZERO,
            api_key: None,
        })
        .unwrap();
        Server {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
            router: genpt::serve::routes::router(state),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    let s = server();
    let request = Request::post(ENDPOINTS[which as usize % ENDPOINTS.len()])
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .unwrap();
    let (status, text) = s.runtime.block_on(async {
        let response = s.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
        (status, bytes)
    });
    assert!(
        !status.is_server_error(),
        "{status}: {}",
        String::from_utf8_lossy(&text)
    );
});
