//! The GPT-2 paper's evaluation of language models themselves (section 3): perplexity in bits
//! per byte, which compares models whose tokenizers differ, and a LAMBADA-style last-word
//! accuracy on passages built from the user's books.
//!
//! Bits per byte: the summed negative log-likelihood of a text's tokens (in bits) over the
//! text's UTF-8 bytes. A text longer than the context is read in windows of `n_ctx` tokens that
//! overlap by half: each window scores only its new tokens, so every token after the first is
//! predicted from at least half a context of history, and each exactly once. (GPT-1's pipeline
//! lowercases and normalises the text before tokenizing; its bytes are still counted on the
//! original text, so its number is the cost of the text as given.)
//!
//! Last word: LAMBADA (Paperno et al., 2016) asks for the final word of a passage. Here a passage
//! is a paragraph of at least `min_words` words; the target is its last word (trailing
//! punctuation and quotes dropped), the context everything before it. A passage counts as right
//! when every token of the word is the model's most likely next token (greedy), as in the GPT-2
//! paper's accuracy. Unlike LAMBADA, passages are not filtered for needing the wide context.

use crate::host::{ids_row, HostValues};
use crate::Gpt;

/// Summed log-likelihood of a text under a model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TextCost {
    /// Negative log-likelihood, in nats, of the tokens scored.
    pub nll: f64,
    /// Tokens scored (all but the first of each text).
    pub tokens: usize,
    /// UTF-8 bytes of the texts.
    pub bytes: usize,
}

impl TextCost {
    pub fn add(&mut self, other: TextCost) {
        self.nll += other.nll;
        self.tokens += other.tokens;
        self.bytes += other.bytes;
    }

    pub fn bits_per_byte(&self) -> f64 {
        self.nll / std::f64::consts::LN_2 / self.bytes as f64
    }

    /// Per-token perplexity (depends on the tokenizer; bits per byte does not).
    pub fn perplexity(&self) -> f64 {
        (self.nll / self.tokens as f64).exp()
    }
}

/// Negative log-likelihood (nats) of `ids[1..]` given what precedes each, in half-overlapping
/// windows of the model's context; returns it with the number of tokens scored.
pub fn sequence_nll(model: &Gpt, ids: &[u32]) -> (f64, usize) {
    let n_ctx = model.config().n_positions;
    let (mut nll, mut scored) = (0.0f64, 0usize);
    if ids.len() < 2 {
        return (nll, scored);
    }
    let mut begin = 0;
    let mut done = 1; // positions below this are scored (position 0 never is)
    loop {
        let end = (begin + n_ctx).min(ids.len());
        let window = ids_row(&ids[begin..end], &model.device());
        let logprobs: Vec<f32> = model
            .next_token_logprobs(model.forward(window.clone(), false).hidden, window)
            .host_values();
        // logprobs[j] is the log-probability of ids[begin + j + 1].
        for (j, lp) in logprobs.iter().enumerate() {
            if begin + j + 1 >= done {
                nll -= *lp as f64;
                scored += 1;
            }
        }
        done = end;
        if end == ids.len() {
            return (nll, scored);
        }
        begin = end - n_ctx / 2;
    }
}

/// The cost of `text` under `model` with `encode` as its tokenizer.
pub fn text_cost(model: &Gpt, text: &str, encode: &dyn Fn(&str) -> Vec<u32>) -> TextCost {
    let (nll, tokens) = sequence_nll(model, &encode(text));
    TextCost {
        nll,
        tokens,
        bytes: text.len(),
    }
}

/// A passage whose last word is to be predicted.
#[derive(Debug, Clone, PartialEq)]
pub struct LastWord {
    pub context: String,
    pub word: String,
}

/// Passages of `text` (paragraphs, blank-line separated, CRLF or LF, whitespace collapsed) of at least
/// `min_words` words whose last word is alphabetic; at most `limit`, in order.
pub fn last_word_passages(text: &str, min_words: usize, limit: usize) -> Vec<LastWord> {
    let mut out = Vec::new();
    let text = text.replace("\r\n", "\n");
    for paragraph in text.split("\n\n") {
        if out.len() >= limit {
            break;
        }
        let words: Vec<&str> = paragraph.split_whitespace().collect();
        if words.len() < min_words {
            continue;
        }
        let last = words[words.len() - 1].trim_end_matches(|c: char| !c.is_alphanumeric());
        if last.is_empty() || !last.chars().all(char::is_alphabetic) {
            continue;
        }
        out.push(LastWord {
            context: words[..words.len() - 1].join(" "),
            word: last.to_string(),
        });
    }
    out
}

/// Whether the model predicts `passage.word` greedily, token by token, after its context; `None`
/// when the word's tokens are not a suffix of the passage's (a tokenizer that merges across the
/// boundary), so the passage cannot be scored this way.
pub fn predicts_last_word(
    model: &Gpt,
    passage: &LastWord,
    encode: &dyn Fn(&str) -> Vec<u32>,
) -> Option<bool> {
    let context = encode(&passage.context);
    let full = encode(&format!("{} {}", passage.context, passage.word));
    if context.is_empty() || full.len() <= context.len() || !full.starts_with(&context) {
        return None;
    }
    let n_target = full.len() - context.len();
    let n_ctx = model.config().n_positions;
    if n_target >= n_ctx {
        return None;
    }
    let window = &full[full.len().saturating_sub(n_ctx)..];
    let hidden = model
        .forward(ids_row(window, &model.device()), false)
        .hidden;
    let time = window.len();
    // Positions time-1-n_target .. time-2 predict the word's tokens.
    let logits = model.lm_logits(hidden.narrow(1, time - 1 - n_target, n_target));
    let predicted: Vec<i64> = logits
        .argmax(2)
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("i64 arg-maxes");
    Some(
        predicted
            .iter()
            .zip(&window[time - n_target..])
            .all(|(&p, &t)| p == i64::from(t)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GptConfig;

    fn model(zero_embeddings: bool) -> Gpt {
        let device = crate::device::device("flex").unwrap();
        device.seed(11);
        let config = GptConfig {
            vocab_size: 50,
            n_positions: 8,
            n_embd: 16,
            n_layer: 1,
            n_head: 2,
            ..GptConfig::gpt1()
        };
        let mut gpt = Gpt::new(&config, &device);
        if zero_embeddings {
            // A tied output layer of zeros: every logit is 0, every token has probability 1/50.
            gpt.tokens_embed =
                burn::module::Param::from_tensor(burn::tensor::Tensor::zeros([50, 16], &device));
        }
        gpt
    }

    #[test]
    fn windows_score_every_token_once() {
        // Under a uniform model each scored token costs ln 50 exactly; 29 tokens of 30, over
        // 3.75 contexts of 8, must each be counted once.
        let ids: Vec<u32> = (0..30).map(|i| (i * 7 % 50) as u32).collect();
        let (nll, scored) = sequence_nll(&model(true), &ids);
        assert_eq!(scored, 29);
        assert!((nll - 29.0 * 50f64.ln()).abs() < 1e-3, "{nll}");
    }

    #[test]
    fn one_window_equals_prefix_by_prefix_log_softmax() {
        // Reference: each token's log-probability from its own forward pass over its prefix,
        // through the full logits and a log-softmax (not the fused target path).
        let gpt = model(false);
        let ids = [3u32, 9, 4, 41, 7, 7, 2];
        let (nll, scored) = sequence_nll(&gpt, &ids);
        let mut reference = 0.0f64;
        for p in 1..ids.len() {
            let hidden = gpt.forward(ids_row(&ids[..p], &gpt.device()), false).hidden;
            let logits: Vec<f32> = gpt.lm_logits(hidden.narrow(1, p - 1, 1)).host_values();
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let log_z = max
                + logits
                    .iter()
                    .map(|&l| (l as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            reference += log_z - logits[ids[p] as usize] as f64;
        }
        assert_eq!(scored, 6);
        assert!((nll - reference).abs() < 1e-4, "{nll} vs {reference}");
    }

    #[test]
    fn passages_end_in_a_word() {
        let text = "Too short.\n\nOne two three four five six\nseven eight, said nine.\n\nA b c d e f g h 1999.\n\nA b c d e f g \"quoted.\"";
        let passages = last_word_passages(text, 5, 10);
        assert_eq!(
            passages,
            [LastWord {
                context: "One two three four five six seven eight, said".into(),
                word: "nine".into()
            }]
        );
    }
}
