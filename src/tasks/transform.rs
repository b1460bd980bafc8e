//! The input transformations of section 3.3 (Figure 1, right): every task becomes one or more
//! token sequences framed by start, delimiter and classify tokens.
//!
//! - classification: `[start] text [classify]`
//! - entailment: `[start] premise [delim] hypothesis [classify]`
//! - similarity: both orderings, `[start] a [delim] b [classify]` and `[start] b [delim] a
//!   [classify]` (their final states are summed by the head)
//! - multiple choice: per answer, `[start] context [delim] answer [classify]`
//!
//! Truncation when a sequence exceeds the context, never dropping a special token: for one text,
//! its end is cut; for pairs, the longer text loses tokens from its end until both fit; for
//! multiple choice, the context loses tokens from its *start* (the end of a story or the
//! question right before the answer matters most), then the answer from its end.

use super::{Example, Input, Kind, Label};
use crate::finetune::run::{EncodedExample, Target};

#[derive(Debug, Clone, Copy)]
pub struct SpecialTokens {
    pub start: u32,
    pub delimiter: u32,
    pub classify: u32,
}

pub const SPECIAL_NAMES: [&str; 3] = ["_start_", "_delimiter_", "_classify_"];

fn frame(s: &SpecialTokens, first: &[u32], second: Option<&[u32]>) -> Vec<u32> {
    let mut seq = Vec::with_capacity(first.len() + second.map_or(0, <[u32]>::len) + 3);
    seq.push(s.start);
    seq.extend_from_slice(first);
    if let Some(second) = second {
        seq.push(s.delimiter);
        seq.extend_from_slice(second);
    }
    seq.push(s.classify);
    seq
}

fn trim_pair(a: &mut Vec<u32>, b: &mut Vec<u32>, budget: usize) {
    while a.len() + b.len() > budget {
        if a.len() >= b.len() { a.pop() } else { b.pop() };
    }
}

/// The sequences of one example. `encode` tokenizes text; `n_ctx` bounds every sequence.
pub fn encode(example: &Example, kind: Kind, encode: &dyn Fn(&str) -> Vec<u32>, s: &SpecialTokens, n_ctx: usize) -> EncodedExample {
    assert!(n_ctx >= 4, "a context of at least 4 positions");
    let sequences = match (&example.input, kind) {
        (Input::Single(text), _) => {
            let mut t = encode(text);
            t.truncate(n_ctx - 2);
            vec![frame(s, &t, None)]
        }
        (Input::Pair(a, b), Kind::Similarity { .. }) => {
            let (mut a, mut b) = (encode(a), encode(b));
            trim_pair(&mut a, &mut b, n_ctx - 3);
            vec![frame(s, &a, Some(&b)), frame(s, &b, Some(&a))]
        }
        (Input::Pair(a, b), _) => {
            let (mut a, mut b) = (encode(a), encode(b));
            trim_pair(&mut a, &mut b, n_ctx - 3);
            vec![frame(s, &a, Some(&b))]
        }
        (Input::Choices { context, answers }, _) => {
            let context = encode(context);
            answers
                .iter()
                .map(|answer| {
                    let mut answer = encode(answer);
                    let budget = n_ctx - 3;
                    let keep = budget.saturating_sub(answer.len()).min(context.len());
                    let context = &context[context.len() - keep..];
                    answer.truncate(budget - context.len());
                    frame(s, context, Some(&answer))
                })
                .collect()
        }
    };
    let classify_at = sequences.iter().map(|seq| seq.len() - 1).collect();
    let target = example.label.map(|l| match l {
        Label::Class(c) => Target::Class(c),
        Label::Score(v) => Target::Score(v),
    });
    EncodedExample { sequences, classify_at, target }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: SpecialTokens = SpecialTokens { start: 100, delimiter: 101, classify: 102 };

    /// Each word becomes its length as a token id: easy to read in assertions.
    fn words(text: &str) -> Vec<u32> {
        text.split_whitespace().map(|w| w.len() as u32).collect()
    }

    fn example(input: Input) -> Example {
        Example { id: "0".into(), input, label: Some(Label::Class(1)) }
    }

    #[test]
    fn the_four_layouts() {
        let e = encode(&example(Input::Single("a bb".into())), Kind::Classification, &words, &S, 16);
        assert_eq!(e.sequences, vec![vec![100, 1, 2, 102]]);
        assert_eq!(e.classify_at, vec![3]);
        let e = encode(&example(Input::Pair("a".into(), "bbb".into())), Kind::Entailment, &words, &S, 16);
        assert_eq!(e.sequences, vec![vec![100, 1, 101, 3, 102]]);
        let e = encode(&example(Input::Pair("a".into(), "bbb".into())), Kind::Similarity { regression: false }, &words, &S, 16);
        assert_eq!(e.sequences, vec![vec![100, 1, 101, 3, 102], vec![100, 3, 101, 1, 102]]);
        let e = encode(
            &example(Input::Choices { context: "a bb".into(), answers: vec!["ccc".into(), "dddd e".into()] }),
            Kind::MultipleChoice { choices: 2 },
            &words,
            &S,
            16,
        );
        assert_eq!(e.sequences, vec![vec![100, 1, 2, 101, 3, 102], vec![100, 1, 2, 101, 4, 1, 102]]);
        assert_eq!(e.classify_at, vec![5, 6]);
        assert_eq!(e.target, Some(Target::Class(1)));
    }

    #[test]
    fn truncation_keeps_the_frame() {
        // Pair: the longer text shrinks from its end.
        let e = encode(&example(Input::Pair("a a a a a a".into(), "bb bb".into())), Kind::Entailment, &words, &S, 8);
        assert_eq!(e.sequences, vec![vec![100, 1, 1, 1, 101, 2, 2, 102]]);
        // Multiple choice: the context loses its start.
        let e = encode(
            &example(Input::Choices { context: "a bb ccc dddd".into(), answers: vec!["ee".into()] }),
            Kind::MultipleChoice { choices: 1 },
            &words,
            &S,
            6,
        );
        assert_eq!(e.sequences, vec![vec![100, 3, 4, 101, 2, 102]]);
    }
}
