//! The web page at `/`: served without the key (it asks for it), and used in a real browser
//! (headless Chromium through Selenium, scripts/browser_check.py): a wrong key refused, the
//! prompt's tokens, a streamed greedy completion equal to generating alone with each token's
//! probability on hover, and an example classified as the model classifies it directly.
//!
//! The browser test needs a Python that imports `selenium` (`GENPT_PYTHON`, default `python3`)
//! and Debian's `chromium` and `chromium-driver`; `.ci/run` installs them, elsewhere it skips,
//! saying why. `GENPT_SCREENSHOT=FILE.png` keeps the page's screenshot.

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_without_the_key_and_the_api_stays_locked() {
    let mut config = config();
    config.api_key = Some("s3cret-key".into());
    let server = Server::start(config).await;
    let response = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    for needle in [
        "/v1/completions",
        "/v1/classify",
        "/tokenize",
        "Authorization",
    ] {
        assert!(html.contains(needle), "the page calls {needle}");
    }
    // Negative control: the page is the only new way in.
    let (status, _) = server.get("/v1/models").await;
    assert_eq!(status, 401);
}

fn browser_python() -> Option<String> {
    let python = std::env::var("GENPT_PYTHON").unwrap_or_else(|_| "python3".into());
    let selenium = std::process::Command::new(&python)
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|o| o.status.success());
    let missing: Vec<&str> = [
        (!selenium).then_some("selenium (pip install selenium)"),
        (!Path::new("/usr/bin/chromium").exists()).then_some("chromium (apt-get install chromium)"),
        (!Path::new("/usr/bin/chromedriver").exists())
            .then_some("chromedriver (apt-get install chromium-driver)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        eprintln!(
            "skipped: the browser test needs {} (GENPT_PYTHON={python})",
            missing.join(", ")
        );
        return None;
    }
    Some(python)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_completes_tokenizes_and_classifies_through_the_page() {
    let Some(python) = browser_python() else {
        return;
    };
    let key = "s3cret-key";
    let mut config = config();
    config.api_key = Some(key.into());
    let server = Server::start(config).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/browser_check.py");
    let mut command = std::process::Command::new(&python);
    command.arg(script).arg(server.url("/")).arg(key);
    if let Ok(shot) = std::env::var("GENPT_SCREENSHOT") {
        command.arg(shot);
    }
    // The browser runs while this runtime's workers serve its requests.
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(seen["asked_for_key"], true, "{seen}");
    assert!(seen["wrong_key_message"]
        .as_str()
        .unwrap()
        .contains("API key"));
    assert!(
        seen["model_line"].as_str().unwrap().contains("context 64"),
        "{seen}"
    );

    // The tokenizer's view: the server's pieces of the prompt, one chip each (a chip shows
    // the piece and its id).
    let prompt = "the cat sat on the";
    let tokenizer = tokenizer();
    let ids = tokenizer.encode(prompt);
    let chips = seen["prompt_tokens"].as_array().unwrap();
    assert_eq!(chips.len(), ids.len(), "{seen}");
    for (chip, id) in chips.iter().zip(&ids) {
        assert!(
            chip.as_str().unwrap().ends_with(&id.to_string()),
            "{chip} for id {id}"
        );
    }

    // The streamed greedy completion: generating alone gives the same tokens.
    assert_eq!(seen["generate_error"], "", "{seen}");
    let greedy = SamplingConfig {
        temperature: 0.0,
        max_new_tokens: 8,
        ..SamplingConfig::default()
    };
    let want_ids = generate(&load_lm(), &ids, &greedy, true, |_| {});
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    let want: String = want_ids
        .iter()
        .map(|&id| genpt::serve::text::piece_text(&tokenizer, id))
        .collect();
    let got: String = seen["generated_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(squash(&got), squash(&want), "{seen}");
    let probabilities = seen["probabilities"].as_array().unwrap();
    assert_eq!(probabilities.len(), want_ids.len());
    assert!(probabilities
        .iter()
        .all(|p| (0.0..=1.0).contains(&p.as_f64().unwrap())));
    assert!(
        seen["hover"].as_str().unwrap().starts_with("p = "),
        "{seen}"
    );

    // The classifier's answer: the label the model gives the example directly.
    assert_eq!(seen["classifiers"], json!(["nli", "sentiment"]));
    let task = seen["classified_task"].as_str().unwrap();
    let dir = match task {
        "sentiment" => fixture().text_task.clone(),
        _ => fixture().pair_task.clone(),
    };
    let text = "the dog ran in the park";
    let example = match task {
        "sentiment" => text_examples(&[text]).remove(0),
        _ => genpt_tasks::Example {
            id: "0".into(),
            input: genpt_tasks::Input::Pair(text.into(), text.into()),
            label: None,
        },
    };
    let Prediction::Class { index, .. } = &direct_predictions(&dir, &[example])[0] else {
        panic!("a classifier predicts a class");
    };
    let label = ["negative", "positive"][*index];
    let shown = seen["classification"].as_str().unwrap();
    assert!(
        shown.starts_with(label),
        "{shown:?} should start with {label}"
    );
}
