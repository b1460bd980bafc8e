//! The paper's zero-shot heuristics (section 5, "Zero-shot behaviors"): how much of each task
//! the generatively pre-trained model solves with no supervised training at all.
//!
//! Each heuristic reduces to average log-probabilities of token continuations, which
//! [`LmScorer`] computes; the heuristics themselves only compare numbers, and are tested on
//! hand-made scores.

use burn::tensor::{Int, Tensor, TensorData};

use crate::loss::next_token_logprobs;
use crate::Gpt;

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
        let device = self.model.tokens_embed.val().device();
        let n = ids.len();
        let tensor = Tensor::<2, Int>::from_data(
            TensorData::new(ids.iter().map(|&i| i as i64).collect::<Vec<_>>(), [1, n]),
            &device,
        );
        let logits = self.model.lm_logits(self.model.forward(tensor.clone(), false).hidden);
        let lp = next_token_logprobs(logits, tensor).into_data().convert::<f32>().try_to_vec::<f32>().expect("f32");
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
        let mcc = if denominator > 0.0 { (tp * tn - fp * fn_) / denominator } else { 0.0 };
        let threshold = if i == 0 { f64::NEG_INFINITY } else if i == sorted.len() { f64::INFINITY } else { (sorted[i - 1].0 + sorted[i].0) / 2.0 };
        if mcc > best_mcc {
            (best, best_mcc) = (threshold, mcc);
        }
        if i < sorted.len() {
            if sorted[i].1 { fn_ += 1.0 } else { tn += 1.0 }
        }
    }
    best
}

/// SST-2: append "very" to the sentence and compare the probability of " positive" with that of
/// " negative" as the next token. Returns 1 for positive.
pub fn sst2_predict(scorer: &dyn Scorer, sentence_then_very: &[u32], positive: &[u32], negative: &[u32]) -> usize {
    let p = scorer.mean_logprob(sentence_then_very, positive);
    let n = scorer.mean_logprob(sentence_then_very, negative);
    usize::from(p > n)
}

/// RACE, Story Cloze: the answer with the highest average token log-probability given the
/// document (and question).
pub fn choose_answer(scorer: &dyn Scorer, context: &[u32], answers: &[Vec<u32>]) -> usize {
    let scores: Vec<f64> = answers.iter().map(|a| scorer.mean_logprob(context, a)).collect();
    argmax(&scores)
}

/// Winograd: for each candidate, the sentence with the candidate substituted for the pronoun is
/// split into `prefix` (up to and including the candidate) and `rest`; the candidate whose rest
/// has the higher average log-probability wins (Trinh & Le's "partial" scoring).
pub fn winograd_choose(scorer: &dyn Scorer, substituted: &[(Vec<u32>, Vec<u32>)]) -> usize {
    let scores: Vec<f64> = substituted.iter().map(|(prefix, rest)| scorer.mean_logprob(prefix, rest)).collect();
    argmax(&scores)
}

fn argmax(scores: &[f64]) -> usize {
    scores
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &s)| if s > best.1 { (i, s) } else { best })
        .0
}

/// One Definite Pronoun Resolution example (Rahman & Ng 2012's `*.c.txt` files).
#[derive(Debug, Clone, PartialEq)]
pub struct DprExample {
    pub sentence: String,
    pub pronoun: String,
    pub candidates: Vec<String>,
    pub answer: usize,
}

impl DprExample {
    /// The sentence with `candidate` in place of the pronoun's first whole-word occurrence,
    /// split after the candidate: (prefix, rest).
    pub fn substitute(&self, candidate: usize) -> Option<(String, String)> {
        let at = find_word(&self.sentence, &self.pronoun)?;
        let prefix = format!("{}{}", &self.sentence[..at], self.candidates[candidate]);
        let rest = self.sentence[at + self.pronoun.len()..].to_string();
        Some((prefix, rest))
    }
}

fn find_word(text: &str, word: &str) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '\'';
    text.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = text[..i].chars().next_back().is_none_or(|c| !is_word(c));
        let after = text[i + word.len()..].chars().next().is_none_or(|c| !is_word(c));
        before && after
    })
}

/// Parses DPR: 4 lines per example (sentence, pronoun, the two candidates comma-separated,
/// answer), blank lines between. Errors name the file and line.
pub fn parse_dpr(text: &str, path: &str) -> Result<Vec<DprExample>, String> {
    let lines: Vec<(usize, &str)> = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).collect();
    let mut out = Vec::new();
    for block in lines.split(|(_, l)| l.is_empty()).filter(|b| !b.is_empty()) {
        let first_line = block[0].0;
        if block.len() != 4 {
            return Err(format!("{path}:{first_line}: expected 4 lines (sentence, pronoun, candidates, answer), found {}", block.len()));
        }
        let candidates: Vec<String> = block[2].1.split(',').map(|c| c.trim().to_string()).collect();
        if candidates.len() != 2 {
            return Err(format!("{path}:{}: expected two comma-separated candidates", block[2].0));
        }
        let answer = block[3].1;
        let index = candidates
            .iter()
            .position(|c| c.eq_ignore_ascii_case(answer))
            .ok_or_else(|| format!("{path}:{}: answer {answer:?} is not one of the candidates", block[3].0))?;
        let example = DprExample { sentence: block[0].1.into(), pronoun: block[1].1.into(), candidates, answer: index };
        if find_word(&example.sentence, &example.pronoun).is_none() {
            return Err(format!("{path}:{}: pronoun {:?} does not occur in the sentence", block[1].0, example.pronoun));
        }
        out.push(example);
    }
    Ok(out)
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
        assert_eq!(choose_answer(&Table, &[1], &[vec![5, 5], vec![1, 9], vec![2, 3]]), 2);
        assert_eq!(sst2_predict(&Table, &[1], &[4], &[6]), 1);
        assert_eq!(sst2_predict(&Table, &[1], &[7], &[6]), 0);
        assert_eq!(winograd_choose(&Table, &[(vec![1], vec![8, 8]), (vec![2], vec![1, 2])]), 1);
        assert!((cola_score(&Table, &[9, 2, 4]) + 0.3).abs() < 1e-6);
    }

    #[test]
    fn threshold_separates_the_classes() {
        let scores = [-3.0, -2.5, -1.0, -0.5, -2.0, -0.2];
        let labels = [false, false, true, true, false, true];
        let t = best_threshold(&scores, &labels);
        assert!(t > -2.0 && t < -1.0, "{t}");
    }

    #[test]
    fn dpr_parsing_and_substitution() {
        let text = "The bee landed on the flower because it wanted pollen.\nit\nThe bee,the flower\nThe bee\n\nJohn hit Bill because he was angry.\nhe\nJohn, Bill\nJohn\n";
        let examples = parse_dpr(text, "x.txt").unwrap();
        assert_eq!(examples.len(), 2);
        assert_eq!(examples[0].answer, 0);
        let (prefix, rest) = examples[0].substitute(1).unwrap();
        assert_eq!(prefix, "The bee landed on the flower because the flower");
        assert_eq!(rest, " wanted pollen.");
        let bad = parse_dpr("A sentence.\nit\nx,y\nz\n", "bad.txt").unwrap_err();
        assert!(bad.starts_with("bad.txt:2:") || bad.starts_with("bad.txt:4:"), "{bad}");
    }
}

#[cfg(test)]
mod shared_data {
    #[test]
    fn reads_the_shared_dpr_files() {
        let Some(dir) = crate::shared_dir().map(|d| d.join("data/winograd")) else {
            eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
            return;
        };
        for (file, count) in [("dpr_train.c.txt", 1316), ("dpr_test.c.txt", 564)] {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            let examples = super::parse_dpr(&text, &path.display().to_string()).unwrap();
            assert_eq!(examples.len(), count, "{file}");
            assert!(examples.iter().all(|e| e.substitute(0).is_some() && e.substitute(1).is_some()));
        }
    }
}
