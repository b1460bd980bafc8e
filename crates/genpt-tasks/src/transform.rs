//! The task-specific input transformations of the paper, section 3.3 / figure 1:
//! every task becomes one or more token sequences the pre-trained transformer
//! can read, with the classifier reading the hidden state at the final
//! `classify` token.
//!
//! - classification:  `[s] text [c]`
//! - entailment:      `[s] premise [d] hypothesis [c]`
//! - similarity:      `[s] a [d] b [c]` and `[s] b [d] a [c]` (no inherent order;
//!   the model sums the two representations)
//! - multiple choice: `[s] context question [d] answer_k [c]` for each answer k
//!   (Story Cloze: the four sentences are the context, no question)
//!
//! Truncation when a sequence would exceed `n_ctx`:
//! - special tokens are never dropped, so `classify_at` always points at a real
//!   `[c]` and the delimiter structure the model was fine-tuned on survives;
//! - single text: cut from its end;
//! - pairs: repeatedly cut one token from the end of the currently longer
//!   segment (the first on ties), so a short hypothesis is not sacrificed to a
//!   long premise;
//! - multiple choice: cut the context from its START (the end of an article or
//!   story is closest to the question and answer), then the answer from its
//!   end, then, only if context and answer are both empty, the question from
//!   its start.

use crate::error::TaskError;
use crate::task::{Input, TaskKind};

/// Ids of the three tokens added to the vocabulary for fine-tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    pub start: u32,
    pub delimiter: u32,
    pub classify: u32,
}

/// One example as the model sees it: one sequence per "choice" (1 for
/// classification/entailment, 2 for similarity, k for multiple choice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub sequences: Vec<Vec<u32>>,
    /// Position of the `[c]` token in each sequence (= its length - 1).
    pub classify_at: Vec<usize>,
}

pub type Tokenize<'a> = &'a dyn Fn(&str) -> Vec<u32>;

/// Encode one example's input for a task of kind `kind`.
///
/// `kind` only matters for pairs (similarity → both orderings, otherwise one
/// entailment sequence); a mismatch between kind and input shape is an error.
/// Fails if `n_ctx` cannot even hold the special tokens.
pub fn encode(
    input: &Input,
    kind: &TaskKind,
    tokenize: Tokenize<'_>,
    sp: SpecialIds,
    n_ctx: usize,
) -> Result<Encoded, TaskError> {
    let sequences = match (input, kind) {
        (Input::Single(text), TaskKind::Classification { .. }) => {
            need(n_ctx, 2)?;
            let mut t = tokenize(text);
            t.truncate(n_ctx - 2);
            vec![wrap(sp, &[&t])]
        }
        (Input::Pair(a, b), TaskKind::Entailment { .. }) => {
            need(n_ctx, 3)?;
            let (a, b) = fit_pair(tokenize(a), tokenize(b), n_ctx - 3);
            vec![wrap(sp, &[&a, &b])]
        }
        (Input::Pair(a, b), TaskKind::Similarity { .. }) => {
            need(n_ctx, 3)?;
            let (a, b) = fit_pair(tokenize(a), tokenize(b), n_ctx - 3);
            vec![wrap(sp, &[&a, &b]), wrap(sp, &[&b, &a])]
        }
        (
            Input::Choices {
                context,
                question,
                choices,
            },
            TaskKind::MultipleChoice { .. },
        ) => {
            need(n_ctx, 3)?;
            let ctx = tokenize(context);
            let q = if question.is_empty() {
                Vec::new()
            } else {
                tokenize(question)
            };
            choices
                .iter()
                .map(|ans| {
                    let (c, q, a) = fit_choice(ctx.clone(), q.clone(), tokenize(ans), n_ctx - 3);
                    let mut first = c;
                    first.extend_from_slice(&q);
                    wrap(sp, &[&first, &a])
                })
                .collect()
        }
        (input, kind) => {
            return Err(TaskError::Transform(format!(
                "input {} does not fit task kind {kind:?}",
                shape(input)
            )))
        }
    };
    let classify_at = sequences.iter().map(|s| s.len() - 1).collect();
    Ok(Encoded {
        sequences,
        classify_at,
    })
}

fn shape(input: &Input) -> &'static str {
    match input {
        Input::Single(_) => "Single",
        Input::Pair(..) => "Pair",
        Input::Choices { .. } => "Choices",
    }
}

fn need(n_ctx: usize, specials: usize) -> Result<(), TaskError> {
    if n_ctx < specials {
        return Err(TaskError::Transform(format!(
            "n_ctx {n_ctx} cannot hold {specials} special tokens"
        )));
    }
    Ok(())
}

/// `[s] seg0 [d] seg1 ... [c]`.
fn wrap(sp: SpecialIds, segments: &[&[u32]]) -> Vec<u32> {
    let mut out =
        Vec::with_capacity(segments.iter().map(|s| s.len()).sum::<usize>() + segments.len() + 1);
    out.push(sp.start);
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push(sp.delimiter);
        }
        out.extend_from_slice(s);
    }
    out.push(sp.classify);
    out
}

/// Trim the longer segment from its end (the first on ties) until both fit in `budget`.
fn fit_pair(mut a: Vec<u32>, mut b: Vec<u32>, budget: usize) -> (Vec<u32>, Vec<u32>) {
    while a.len() + b.len() > budget {
        if a.len() >= b.len() {
            a.pop();
        } else {
            b.pop();
        }
    }
    (a, b)
}

/// Context from its start, then answer from its end, then question from its start.
fn fit_choice(
    ctx: Vec<u32>,
    q: Vec<u32>,
    mut ans: Vec<u32>,
    budget: usize,
) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let mut over = (ctx.len() + q.len() + ans.len()).saturating_sub(budget);
    let cut_ctx = over.min(ctx.len());
    let ctx = ctx[cut_ctx..].to_vec();
    over -= cut_ctx;
    let cut_ans = over.min(ans.len());
    ans.truncate(ans.len() - cut_ans);
    over -= cut_ans;
    let q = q[over.min(q.len())..].to_vec();
    (ctx, q, ans)
}

/// A padded batch in the flat, row-major layout tensors are built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `[batch * choices * time]`, padded with `pad_id`.
    pub ids: Vec<i64>,
    /// Same shape as `ids`: 1.0 on real tokens, 0.0 on padding.
    pub mask: Vec<f32>,
    /// `[batch * choices]`: index of the `[c]` token in each sequence.
    pub classify_at: Vec<i64>,
    pub batch: usize,
    pub choices: usize,
    pub time: usize,
}

/// Pad to the longest sequence in the batch (not to `n_ctx`: short batches are
/// much cheaper). All examples must have the same number of sequences.
pub fn pad_batch(encoded: &[Encoded], pad_id: u32) -> Result<Batch, TaskError> {
    let batch = encoded.len();
    let choices = encoded.first().map_or(0, |e| e.sequences.len());
    if let Some(bad) = encoded.iter().position(|e| e.sequences.len() != choices) {
        return Err(TaskError::Transform(format!(
            "example {bad} has {} sequences, example 0 has {choices}",
            encoded[bad].sequences.len()
        )));
    }
    let time = encoded
        .iter()
        .flat_map(|e| e.sequences.iter().map(Vec::len))
        .max()
        .unwrap_or(0);
    let mut ids = vec![pad_id as i64; batch * choices * time];
    let mut mask = vec![0.0f32; batch * choices * time];
    let mut classify_at = Vec::with_capacity(batch * choices);
    for (b, e) in encoded.iter().enumerate() {
        for (c, seq) in e.sequences.iter().enumerate() {
            let row = (b * choices + c) * time;
            for (t, &tok) in seq.iter().enumerate() {
                ids[row + t] = tok as i64;
                mask[row + t] = 1.0;
            }
            classify_at.push(e.classify_at[c] as i64);
        }
    }
    Ok(Batch {
        ids,
        mask,
        classify_at,
        batch,
        choices,
        time,
    })
}
