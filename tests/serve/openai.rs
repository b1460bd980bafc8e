//! What OpenAI's clients send: echo, every prompt form, every request field, the API key.

use crate::common::*;

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
