//! A server on the GPU backend named by `GENPT_GPU_BACKEND` (in CI `wgpu:cpu`, Mesa's lavapipe)
//! answers as flex does: greedy completions, batched across requests, give flex's text, and
//! classifications flex's probabilities. Skipped, with the reason printed, without one.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_server_completes_and_classifies_as_flex() {
    let Ok(backend) = std::env::var("GENPT_GPU_BACKEND") else {
        println!("skipped: GENPT_GPU_BACKEND names no GPU backend (e.g. wgpu:cpu)");
        return;
    };
    let mut config = config();
    config.backend = backend.clone();
    let server = Arc::new(Server::start(config).await);
    let model = load_lm();
    let greedy = SamplingConfig {
        temperature: 0.0,
        max_new_tokens: 16,
        ..Default::default()
    };
    let prompts = ["the cat sat", "a bird sang in", "we walked to the river"];
    let answers = server.complete_together(&prompts, 16).await;
    let mut texts = Vec::new();
    for (prompt, (status, body)) in prompts.iter().zip(answers) {
        assert_eq!(status, 200, "{body}");
        let got = body["choices"][0]["text"].as_str().unwrap().to_string();
        let want = reference_text(&model, prompt, &greedy);
        println!("{backend} {prompt:?}: {got:?} (flex {want:?})");
        assert_eq!(got, want, "{backend}: greedy completion of {prompt:?}");
        texts.push(got);
    }
    // Negative control: the prompts' continuations are not all one text.
    assert!(
        texts.iter().any(|t| t != &texts[0]),
        "every prompt continued alike"
    );

    let inputs = ["the movie was good", "we saw a small boat on the river"];
    let want = direct_predictions(&fixture().text_task, &text_examples(&inputs));
    for (text, want) in inputs.iter().zip(&want) {
        let (status, body) = server
            .post(
                "/v1/classify",
                json!({"model": "sentiment", "inputs": text}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let Prediction::Class { probabilities, .. } = want else {
            panic!("a classifier predicts classes")
        };
        for (name, want) in ["negative", "positive"].iter().zip(probabilities) {
            let got = body["probabilities"][name].as_f64().unwrap() as f32;
            assert!(
                (got - want).abs() < 1e-4,
                "{backend} {text:?} {name}: {got} vs flex {want}"
            );
        }
    }
}
