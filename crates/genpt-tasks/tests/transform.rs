//! Section 3.3 transformations, checked against hand-written expected sequences.
//! The test tokenizer reads each whitespace-separated word as its own id, so
//! "1 2 3" tokenizes to [1, 2, 3] and expected outputs can be written by hand.

use genpt_tasks::*;

const SP: SpecialIds = SpecialIds {
    start: 100,
    delimiter: 101,
    classify: 102,
};

fn tok(s: &str) -> Vec<u32> {
    s.split_whitespace().map(|w| w.parse().unwrap()).collect()
}

fn enc(input: Input, kind: TaskKind, n_ctx: usize) -> Encoded {
    encode(&input, &kind, &tok, SP, n_ctx).unwrap()
}

const CLS: TaskKind = TaskKind::Classification { n_classes: 2 };
const ENT: TaskKind = TaskKind::Entailment { n_classes: 3 };
const SIM: TaskKind = TaskKind::Similarity { regression: true };
const MC: TaskKind = TaskKind::MultipleChoice { n_choices: 2 };

fn choices(context: &str, question: &str, answers: &[&str]) -> Input {
    Input::Choices {
        context: context.into(),
        question: question.into(),
        choices: answers.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn classification_and_its_truncation() {
    let e = enc(Input::Single("1 2 3".into()), CLS, 512);
    assert_eq!(e.sequences, vec![vec![100, 1, 2, 3, 102]]);
    assert_eq!(e.classify_at, vec![4]);
    let e = enc(Input::Single("1 2 3 4 5".into()), CLS, 4);
    assert_eq!(e.sequences, vec![vec![100, 1, 2, 102]]);
}

#[test]
fn entailment_trims_the_longer_segment_from_its_end() {
    let e = enc(Input::Pair("1 2".into(), "3 4 5".into()), ENT, 512);
    assert_eq!(e.sequences, vec![vec![100, 1, 2, 101, 3, 4, 5, 102]]);
    // budget 8 - 3 = 5: premise 6 → 3, hypothesis 2 untouched.
    let e = enc(Input::Pair("1 2 3 4 5 6".into(), "7 8".into()), ENT, 8);
    assert_eq!(e.sequences, vec![vec![100, 1, 2, 3, 101, 7, 8, 102]]);
    assert_eq!(e.classify_at, vec![7]);
    // Equal lengths: budget 4, 3 + 3 → first loses one, then the (now longer) second.
    let e = enc(Input::Pair("1 2 3".into(), "4 5 6".into()), ENT, 7);
    assert_eq!(e.sequences, vec![vec![100, 1, 2, 101, 4, 5, 102]]);
}

#[test]
fn similarity_encodes_both_orderings() {
    let e = enc(Input::Pair("1 2".into(), "3".into()), SIM, 512);
    assert_eq!(
        e.sequences,
        vec![vec![100, 1, 2, 101, 3, 102], vec![100, 3, 101, 1, 2, 102]]
    );
    assert_eq!(e.classify_at, vec![5, 5]);
}

#[test]
fn multiple_choice_one_sequence_per_answer() {
    let e = enc(choices("1 2", "3", &["4", "5 6"]), MC, 512);
    assert_eq!(
        e.sequences,
        vec![
            vec![100, 1, 2, 3, 101, 4, 102],
            vec![100, 1, 2, 3, 101, 5, 6, 102]
        ]
    );
    assert_eq!(e.classify_at, vec![6, 7]);
    // Story Cloze: no question.
    let e = enc(choices("1 2", "", &["3", "4"]), MC, 512);
    assert_eq!(
        e.sequences,
        vec![vec![100, 1, 2, 101, 3, 102], vec![100, 1, 2, 101, 4, 102]]
    );
}

#[test]
fn multiple_choice_trims_context_from_its_start_then_answer_then_question() {
    // budget 6: answer "8 9" → context keeps its last 2; answer "10" → last 3.
    let e = enc(choices("1 2 3 4 5", "6 7", &["8 9", "10"]), MC, 9);
    assert_eq!(
        e.sequences,
        vec![
            vec![100, 4, 5, 6, 7, 101, 8, 9, 102],
            vec![100, 3, 4, 5, 6, 7, 101, 10, 102]
        ]
    );
    // budget 3: context gone, answer cut to its first token, question kept.
    let e = enc(choices("1", "2 3", &["4 5 6 7"]), MC, 6);
    assert_eq!(e.sequences, vec![vec![100, 2, 3, 101, 4, 102]]);
    // budget 1: context and answer empty, question keeps its end.
    let e = enc(choices("", "1 2 3", &["4"]), MC, 4);
    assert_eq!(e.sequences, vec![vec![100, 3, 101, 102]]);
}

#[test]
fn errors_instead_of_panics() {
    assert!(encode(&Input::Single("1".into()), &ENT, &tok, SP, 512).is_err());
    assert!(encode(&Input::Pair("1".into(), "2".into()), &ENT, &tok, SP, 2).is_err());
    let a = enc(Input::Single("1".into()), CLS, 10);
    let b = enc(Input::Pair("1".into(), "2".into()), SIM, 10);
    assert!(pad_batch(&[a, b], 0).is_err());
}

#[test]
fn pad_batch_pads_to_the_longest_sequence() {
    let a = enc(Input::Pair("1 2".into(), "3".into()), SIM, 512); // two of length 6
    let b = enc(Input::Pair("4".into(), "".into()), SIM, 512); // two of length 4
    let batch = pad_batch(&[a, b], 0).unwrap();
    assert_eq!((batch.batch, batch.choices, batch.time), (2, 2, 6));
    #[rustfmt::skip]
    assert_eq!(batch.ids, vec![
        100, 1, 2, 101, 3, 102,
        100, 3, 101, 1, 2, 102,
        100, 4, 101, 102, 0, 0,
        100, 101, 4, 102, 0, 0,
    ]);
    let ones = |n: usize| {
        let mut v = vec![1.0f32; n];
        v.resize(6, 0.0);
        v
    };
    assert_eq!(batch.mask, [ones(6), ones(6), ones(4), ones(4)].concat());
    assert_eq!(batch.classify_at, vec![5, 5, 3, 3]);
    let empty = pad_batch(&[], 0).unwrap();
    assert_eq!(
        (empty.batch, empty.choices, empty.time, empty.ids.len()),
        (0, 0, 0, 0)
    );
}
