//! The paper's zero-shot heuristics (section 5, "Zero-shot behaviors"): how much of each task
//! the generatively pre-trained model solves with no supervised training at all.
//!
//! Each heuristic reduces to average log-probabilities of token continuations, which
//! [`LmScorer`] computes; the heuristics themselves only compare numbers, and are tested on
//! hand-made scores.

pub mod lm_eval;
pub mod suite;
pub mod winograd;

use crate::host::HostValues;
use crate::Gpt;

pub use suite::{ZeroShotResult, ZeroShotTask, ZERO_SHOT_TASKS};
pub use winograd::{parse_dpr, parse_wsc_xml, WinogradExample};

/// Log-probabilities of continuations under a language model.
pub trait Scorer {
    /// log p(token) for each token of `continuation` given `context` and the continuation so far.
    fn continuation_logprobs(&self, context: &[u32], continuation: &[u32]) -> Vec<f32>;

    /// The mean of [`Scorer::continuation_logprobs`] (−∞ for an empty continuation).
    fn mean_logprob(&self, context: &[u32], continuation: &[u32]) -> f64 {
        let lp = self.continuation_logprobs(context, continuation);
        if lp.is_empty() {
            return f64::NEG_INFINITY;
        }
        lp.iter().map(|&x| x as f64).sum::<f64>() / lp.len() as f64
    }
}

/// A [`Scorer`] over a model, eval mode. Sequences longer than the context keep their end: the
/// continuation and as much context as fits before it.
pub struct LmScorer<'a> {
    pub model: &'a Gpt,
}

impl Scorer for LmScorer<'_> {
    fn continuation_logprobs(&self, context: &[u32], continuation: &[u32]) -> Vec<f32> {
        let n_ctx = self.model.config().n_positions;
        let mut ids: Vec<u32> = context.iter().chain(continuation).copied().collect();
        let mut scored = continuation.len();
        if ids.len() > n_ctx {
            ids.drain(..ids.len() - n_ctx);
            scored = scored.min(n_ctx - 1);
        }
        // The first token has no prediction: with no context, score from the second one.
        scored = scored.min(ids.len().saturating_sub(1));
        if scored == 0 {
            return Vec::new();
        }
        let tensor = crate::host::ids_row(&ids, &self.model.device());
        let hidden = self.model.forward(tensor.clone(), false).hidden;
        let lp = self.model.next_token_logprobs(hidden, tensor).host_values();
        lp[lp.len() - scored..].to_vec()
    }
}

/// CoLA: a sentence's average token log-probability; acceptable when above a threshold.
pub fn cola_score(scorer: &dyn Scorer, sentence: &[u32]) -> f64 {
    match sentence.split_first() {
        Some((first, rest)) => scorer.mean_logprob(&[*first], rest),
        None => f64::NEG_INFINITY,
    }
}

/// The threshold on `scores` that maximises Matthews correlation with `labels` (1 =
/// acceptable), chosen on training data as the paper does.
pub fn best_threshold(scores: &[f64], labels: &[bool]) -> f64 {
    let mut sorted: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = labels.iter().filter(|&&l| l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    // Predict "acceptable" for scores ≥ threshold; sweep thresholds between sorted scores.
    let (mut best, mut best_mcc) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let (mut fn_, mut tn) = (0.0, 0.0); // below the threshold
    for i in 0..=sorted.len() {
        let tp = positives - fn_;
        let fp = negatives - tn;
        let denominator = ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt();
        let mcc = if denominator > 0.0 {
            (tp * tn - fp * fn_) / denominator
        } else {
            0.0
        };
        let threshold = if i == 0 {
            f64::NEG_INFINITY
        } else if i == sorted.len() {
            f64::INFINITY
        } else {
            (sorted[i - 1].0 + sorted[i].0) / 2.0
        };
        if mcc > best_mcc {
            (best, best_mcc) = (threshold, mcc);
        }
        if i < sorted.len() {
            if sorted[i].1 {
                fn_ += 1.0
            } else {
                tn += 1.0
            }
        }
    }
    best
}

/// SST-2: append "very" to the sentence and compare the probability of " positive" with that of
/// " negative" as the next token. Returns 1 for positive.
pub fn sst2_predict(
    scorer: &dyn Scorer,
    sentence_then_very: &[u32],
    positive: &[u32],
    negative: &[u32],
) -> usize {
    let [n, p] = sst2_scores(scorer, sentence_then_very, positive, negative);
    usize::from(p > n)
}

/// The two scores [`sst2_predict`] compares, as [negative, positive] (the label order): the
/// average log-probability of each label word after the sentence and "very".
pub fn sst2_scores(
    scorer: &dyn Scorer,
    sentence_then_very: &[u32],
    positive: &[u32],
    negative: &[u32],
) -> [f64; 2] {
    [
        scorer.mean_logprob(sentence_then_very, negative),
        scorer.mean_logprob(sentence_then_very, positive),
    ]
}

/// RACE, Story Cloze: the answer with the highest average token log-probability given the
/// document (and question).
pub fn choose_answer(scorer: &dyn Scorer, context: &[u32], answers: &[Vec<u32>]) -> usize {
    argmax(&answer_scores(scorer, context, answers))
}

/// Each answer's average token log-probability given the context: what [`choose_answer`]
/// compares.
pub fn answer_scores(scorer: &dyn Scorer, context: &[u32], answers: &[Vec<u32>]) -> Vec<f64> {
    answers
        .iter()
        .map(|a| scorer.mean_logprob(context, a))
        .collect()
}

/// Winograd: for each candidate, the sentence with the candidate substituted for the pronoun is
/// split into `prefix` (up to and including the candidate) and `rest`; the candidate whose rest
/// has the higher average log-probability wins (Trinh & Le's "partial" scoring).
pub fn winograd_choose(scorer: &dyn Scorer, substituted: &[(Vec<u32>, Vec<u32>)]) -> usize {
    argmax(&winograd_scores(scorer, substituted))
}

/// Each candidate's score for [`winograd_choose`]: the average log-probability of the rest of
/// the sentence after it.
pub fn winograd_scores(scorer: &dyn Scorer, substituted: &[(Vec<u32>, Vec<u32>)]) -> Vec<f64> {
    substituted
        .iter()
        .map(|(prefix, rest)| scorer.mean_logprob(prefix, rest))
        .collect()
}

/// The index of the first highest score: the pick of every heuristic above.
pub fn argmax(scores: &[f64]) -> usize {
    scores
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &s)| {
            if s > best.1 {
                (i, s)
            } else {
                best
            }
        })
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores each token by a fixed table: log p(t) = −t/10, whatever the context.
    struct Table;
    impl Scorer for Table {
        fn continuation_logprobs(&self, _: &[u32], continuation: &[u32]) -> Vec<f32> {
            continuation.iter().map(|&t| -(t as f32) / 10.0).collect()
        }
    }

    #[test]
    fn heuristics_compare_average_logprobs() {
        assert_eq!(
            choose_answer(&Table, &[1], &[vec![5, 5], vec![1, 9], vec![2, 3]]),
            2
        );
        assert_eq!(sst2_predict(&Table, &[1], &[4], &[6]), 1);
        assert_eq!(sst2_predict(&Table, &[1], &[7], &[6]), 0);
        assert_eq!(
            winograd_choose(&Table, &[(vec![1], vec![8, 8]), (vec![2], vec![1, 2])]),
            1
        );
        assert!((cola_score(&Table, &[9, 2, 4]) + 0.3).abs() < 1e-6);
    }

    #[test]
    fn threshold_separates_the_classes() {
        let scores = [-3.0, -2.5, -1.0, -0.5, -2.0, -0.2];
        let labels = [false, false, true, true, false, true];
        let t = best_threshold(&scores, &labels);
        assert!(t > -2.0 && t < -1.0, "{t}");
    }
}
