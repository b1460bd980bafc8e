//! Completions: concurrent, streamed, with stop sequences, and GPT-1 text cleaned up.

use crate::common::*;

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
        // Six stops, as lm-evaluation-harness's generate_until may send (OpenAI's limit is 4).
        request["stop"] = json!([
            "never appears",
            "nor this",
            "nor that",
            "\n\n\n",
            "Q:",
            word
        ]);
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
    // More than 16 is refused, naming the field.
    let mut request = greedy.clone();
    request["stop"] = json!((0..17).map(|i| format!("stop {i}")).collect::<Vec<_>>());
    let (status, body) = server.post("/v1/completions", request).await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("stop: at most 16"), "{body}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bf16_server_completes_as_bf16_generation_does() {
    if !genpt::kernels::bf16_weights_on(&device()) {
        eprintln!("skipped: no bf16 products here (--precision bf16 is refused)");
        return;
    }
    // `genpt serve --precision bf16`: batched prefill and batched decoding steps with the
    // weights packed in bf16 give what `generate` gives with the same weights, token for token.
    let mut config = config();
    config.precision = genpt::precision::Precision::Bf16;
    config.step_delay = Duration::from_millis(5);
    let server = Arc::new(Server::start(config).await);
    let model = genpt::precision::Precision::Bf16
        .for_inference(load_lm())
        .unwrap();
    let sampling = SamplingConfig {
        temperature: 0.0,
        max_new_tokens: 12,
        ..Default::default()
    };
    let prompts = ["the cat sat", "a bird sang in the", "we walked"];
    let answers = server.complete_together(&prompts, 12).await;
    let fp32 = load_lm();
    let mut differ_from_fp32 = 0;
    for (prompt, (status, body)) in prompts.iter().zip(answers) {
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["choices"][0]["text"].as_str().unwrap(),
            reference_text(&model, prompt, &sampling),
            "{prompt:?}"
        );
        if reference_text(&fp32, prompt, &sampling) != reference_text(&model, prompt, &sampling) {
            differ_from_fp32 += 1;
        }
    }
    // Negative control: fp32 weights continue at least one prompt differently (measured: "we
    // walked"), so the comparison above sees which weights the server used.
    assert!(differ_from_fp32 > 0, "bf16 and fp32 agree on every prompt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bf16_server_classifies_with_bf16_decoders() {
    if !genpt::kernels::bf16_weights_on(&device()) {
        eprintln!("skipped: no bf16 products here (--precision bf16 is refused)");
        return;
    }
    // `/v1/classify` on a `--precision bf16` server: the task model's decoder is packed in bf16
    // as the language model is, and its probabilities are those of the same model run directly
    // in bf16, one text per forward pass.
    let mut config = config();
    config.precision = genpt::precision::Precision::Bf16;
    let server = Server::start(config).await;
    let texts = ["the movie was good", "we saw a small boat on the river"];
    let examples = text_examples(&texts);
    let dir = &fixture().text_task;
    let bf16 = direct_predictions_in(dir, &examples, genpt::precision::Precision::Bf16);
    let fp32 = direct_predictions(dir, &examples);
    let probabilities = |p: &Prediction| match p {
        Prediction::Class { probabilities, .. } => probabilities.clone(),
        _ => panic!("a classifier predicts classes"),
    };
    let mut farthest_from_fp32 = 0f32;
    for ((text, want), fp32) in texts.iter().zip(&bf16).zip(&fp32) {
        let (status, body) = server
            .post(
                "/v1/classify",
                json!({"model": "sentiment", "inputs": text}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        for ((name, want), fp32) in ["negative", "positive"]
            .iter()
            .zip(probabilities(want))
            .zip(probabilities(fp32))
        {
            let got = body["probabilities"][name].as_f64().unwrap() as f32;
            assert!(
                (got - want).abs() < 1e-5,
                "{text:?} {name}: {got} vs bf16 {want}"
            );
            farthest_from_fp32 = farthest_from_fp32.max((got - fp32).abs());
        }
    }
    // Negative control: the fp32 decoder's probabilities are farther off than the tolerance, so
    // the comparison above sees which weights the server classified with.
    assert!(
        farthest_from_fp32 > 1e-5,
        "bf16 and fp32 probabilities agree to {farthest_from_fp32}"
    );
}
