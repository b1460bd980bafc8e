//! The zero-shot suite end to end on the RACE fixture of the task crate: loading, tokenizing
//! document + question and each option, and the highest-average-log-probability choice.

use std::collections::HashSet;
use std::path::Path;

use genpt::zeroshot::{Scorer, ZeroShotTask};

/// log p = 0 for a token that occurs in the context, −1 for one that does not: the answer whose
/// words the document and question contain wins.
struct CopyScorer;
impl Scorer for CopyScorer {
    fn continuation_logprobs(&self, context: &[u32], continuation: &[u32]) -> Vec<f32> {
        let seen: HashSet<u32> = context.iter().copied().collect();
        continuation
            .iter()
            .map(|t| if seen.contains(t) { 0.0 } else { -1.0 })
            .collect()
    }
}

#[test]
fn race_chooses_the_answer_with_the_best_average_logprob() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/genpt-tasks/tests/fixtures");
    // A vocabulary in which every word of the fixtures is one token.
    let texts: Vec<String> = std::fs::read_dir(fixtures.join("RACE/dev/middle"))
        .unwrap()
        .chain(std::fs::read_dir(fixtures.join("RACE/dev/high")).unwrap())
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect();
    let counts =
        genpt_tokenizer::train::count_words(texts.iter().map(String::as_str).collect::<Vec<_>>());
    let (encoder, merges) = genpt_tokenizer::train::train_bpe(&counts, 2000, &|_| {});
    let tokenizer = genpt_tokenizer::Tokenizer::new(encoder, merges);
    assert_eq!(
        tokenizer.encode("school").len(),
        1,
        "whole words should be single tokens"
    );

    let task = ZeroShotTask::load("race", &fixtures, &tokenizer, None).unwrap();
    let result = task.evaluate(&CopyScorer);
    // By hand: "Where did Tom study?" → "at school" (both words in the article; right);
    // "Who helped Tom?" → "Tom" and "Jack" both occur, the first of the tied options wins (Tom;
    // wrong, Jack is right); "When was the bridge built?" → "in 1900" (right).
    assert_eq!(result.per_example.len(), 3);
    let predicted: Vec<u64> = result
        .per_example
        .iter()
        .map(|r| r["predicted"].as_u64().unwrap())
        .collect();
    assert_eq!(predicted, [1, 0, 0]);
    // Each example carries the four options' scores (average log-probabilities under the copy
    // scorer: 0 when every word of the option is in the article and question): the picks above
    // score 0, and so does the right answer of the tie.
    let scores: Vec<Vec<f64>> = result
        .per_example
        .iter()
        .map(|r| serde_json::from_value(r["scores"].clone()).unwrap())
        .collect();
    assert!(scores.iter().all(|s| s.len() == 4), "{scores:?}");
    for (s, &p) in scores.iter().zip(&predicted) {
        assert_eq!(s[p as usize], 0.0, "{s:?}");
    }
    let tie = &result.per_example[1];
    assert_eq!(scores[1][tie["label"].as_u64().unwrap() as usize], 0.0);
    assert!((result.value - 2.0 / 3.0).abs() < 1e-12, "{}", result.value);
    assert_eq!((result.chance, result.metric), (0.25, "accuracy"));
}

#[test]
fn unknown_tasks_and_missing_data_are_clear_errors() {
    let tokenizer = genpt_tokenizer::Tokenizer::new(Default::default(), vec![]);
    let err = ZeroShotTask::load("mnli", Path::new("."), &tokenizer, None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no zero-shot heuristic"), "{err}");
    let err = ZeroShotTask::load("wsc", Path::new("/nonexistent"), &tokenizer, None)
        .err()
        .unwrap();
    assert!(
        format!("{err:#}").contains("/nonexistent/WSCollection.xml"),
        "{err:#}"
    );
}

/// `storycloze` scores the 374 stories fine-tuning holds out; `storycloze-all` every story of
/// the 2016 validation file (1,871: the count of the released CSV).
#[test]
fn storycloze_all_scores_every_validation_story() {
    let Some(shared) = genpt::shared_dir() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let data = shared.join("data/storycloze");
    let tokenizer = genpt_tokenizer::Tokenizer::new(Default::default(), vec![]);
    let count = |task: &str| {
        ZeroShotTask::load(task, &data, &tokenizer, None)
            .unwrap()
            .evaluate(&CopyScorer)
            .per_example
            .len()
    };
    assert_eq!(count("storycloze"), 374);
    assert_eq!(count("storycloze-all"), 1871);
}
