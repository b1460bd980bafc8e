//! Batched decoding against decoding alone, for GPT-1 and GPT-2.

use crate::common::*;

#[test]
fn batched_decoding_gives_what_each_sequence_gets_alone() {
    let model = load_lm();
    let tokenizer = tokenizer();
    let prompts: Vec<Vec<u32>> = [
        "the cat sat",
        "a bird",
        "we walked to the river and saw",
        "she reads a book about the sea",
    ]
    .iter()
    .map(|p| tokenizer.encode(p))
    .collect();
    let joins = [0, 0, 2, 5];
    let lengths = [12, 6, 10, 9];
    let batched = decode_continuously(&model, &prompts, &joins, &lengths, false);
    for (i, prompt) in prompts.iter().enumerate() {
        let greedy = SamplingConfig {
            temperature: 0.0,
            max_new_tokens: lengths[i],
            ..Default::default()
        };
        let alone = generate(&model, prompt, &greedy, false, |_| {});
        assert_eq!(batched[i].0, alone, "sequence {i}: tokens");
        // Logits: each step against the full forward pass of the sequence so far, alone.
        let mut context = prompt.clone();
        for (step, row) in batched[i].1.iter().enumerate() {
            let reference = logits_of(&model, model.forward(ids_tensor(&context), false).hidden);
            let worst = reference
                .iter()
                .zip(row)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-4,
                "sequence {i}, step {step}: logits differ by {worst}"
            );
            context.push(batched[i].0[step]);
        }
    }
    // Negative control: the same comparison with two sequences' caches exchanged must fail.
    let swapped = decode_continuously(&model, &prompts, &joins, &lengths, true);
    let greedy = |n| SamplingConfig {
        temperature: 0.0,
        max_new_tokens: n,
        ..Default::default()
    };
    let alone0 = generate(&model, &prompts[0], &greedy(lengths[0]), true, |_| {});
    let alone1 = generate(&model, &prompts[1], &greedy(lengths[1]), true, |_| {});
    assert!(
        swapped[0].0 != alone0 || swapped[1].0 != alone1,
        "the check cannot tell sequences apart"
    );
}

/// A GPT-2 model (the tiny random one of ../shared, its byte-level vocabulary in the same
/// directory) served as it is: completions equal `generate_until` stopping at `<|endoftext|>`,
/// streamed or not, and their text is the byte-level decoding of the tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpt2_model_completes_like_generating_alone() {
    let Some(shared) = genpt::shared_dir() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let dir = shared.join("fixtures/tiny-random-gpt2");
    let mut config = config();
    config.model = dir.clone();
    config.task_models.clear();
    let server = Server::start(config).await;
    let model = genpt::weights::load_model(&dir, &Default::default(), &device()).unwrap();
    assert_eq!(model.config().arch, genpt::config::Arch::Gpt2);
    let tokenizer = genpt_tokenizer::Tokenizer::from_dir(&dir).unwrap();
    for (prompt, seed) in [("Hello world, it's", 0u64), ("Üñíçødé 😀 text", 3)] {
        let sampling = SamplingConfig {
            temperature: if seed == 0 { 0.0 } else { 1.0 },
            seed,
            max_new_tokens: 24,
            ..Default::default()
        };
        let ids = tokenizer.encode(prompt);
        let want = genpt::generate::generate_until(
            &model,
            &ids,
            &sampling,
            true,
            tokenizer.eot_id(),
            |_| {},
        );
        let want_text = String::from_utf8_lossy(&tokenizer.decode_bytes(&want)).into_owned();
        let body = json!({"prompt": prompt, "max_tokens": 24, "temperature": sampling.temperature, "seed": seed});
        let (status, answer) = server.post("/v1/completions", body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["choices"][0]["text"], want_text.as_str(), "{prompt}");
        assert_eq!(answer["usage"]["completion_tokens"], want.len());
        let mut streamed = body;
        streamed["stream"] = json!(true);
        let response = server
            .client
            .post(server.url("/v1/completions"))
            .json(&streamed)
            .send()
            .await
            .unwrap();
        let text: String = sse_data(&response.text().await.unwrap())
            .iter()
            .filter(|d| *d != "[DONE]")
            .map(|d| {
                serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            text, want_text,
            "{prompt}: the stream joins to the same text"
        );
    }
}
