//! The other endpoints: score, classify, tokenize, detokenize, models, health, metrics.

use crate::common::*;

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
    let examples = text_examples(&texts);
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
