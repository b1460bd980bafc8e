//! Sampling text from the language model: temperature, top-k, top-p (nucleus), a seed, a token
//! budget, with a key/value cache so that each new token costs one position's work.
//!
//! Only real token rows can be sampled: the LM head covers the vocabulary, never the special
//! rows appended for fine-tuning.

use burn::tensor::Tensor;

use crate::host::{ids_row, HostValues};
use crate::model::KvCache;
use crate::rng::Draws;
use crate::Gpt;

#[derive(Debug, Clone)]
pub struct SamplingConfig {
    /// 0 means greedy (always the most likely token).
    pub temperature: f64,
    /// Keep only the k most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches p (1.0: all).
    pub top_p: f64,
    pub seed: u64,
    pub max_new_tokens: usize,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
            max_new_tokens: 50,
        }
    }
}

/// Picks the next token from `logits` (one row over the vocabulary).
pub fn sample_next(logits: &[f32], config: &SamplingConfig, draws: &mut Draws) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, &l)| {
                if l > best.1 {
                    (i, l)
                } else {
                    best
                }
            })
            .0 as u32
    };
    if config.temperature <= 0.0 {
        return argmax();
    }
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    order.sort_by(|&a, &b| {
        logits[b as usize]
            .total_cmp(&logits[a as usize])
            .then(a.cmp(&b))
    });
    if config.top_k > 0 {
        order.truncate(config.top_k);
    }
    let max = logits[order[0] as usize] as f64;
    let mut probs: Vec<f64> = order
        .iter()
        .map(|&i| ((logits[i as usize] as f64 - max) / config.temperature).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if config.top_p < 1.0 {
        let mut cumulative = 0.0;
        let keep = probs
            .iter()
            .position(|&p| {
                cumulative += p;
                cumulative >= config.top_p
            })
            .map_or(probs.len(), |i| i + 1);
        order.truncate(keep);
        probs.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut r = (draws.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
    for (i, p) in probs.iter().enumerate() {
        if r < *p {
            return order[i];
        }
        r -= p;
    }
    *order.last().unwrap()
}

/// Next-token logits at the last position of every sequence of `hidden` [batch, time, width]:
/// `batch` rows of `vocab_size`, one after the other.
pub fn last_logits(model: &Gpt, hidden: Tensor<3>) -> Vec<f32> {
    let [batch, time, width] = hidden.dims();
    let last = hidden.narrow(1, time - 1, 1).reshape([batch, 1, width]);
    model.lm_logits(last).host_values()
}

/// Continues `prompt` by up to `max_new_tokens` tokens, calling `on_token` as each is chosen.
/// With `use_cache` false every step recomputes the whole context (the reference the cache is
/// tested against). When the context fills up, the cache restarts from the last half of it.
pub fn generate(
    model: &Gpt,
    prompt: &[u32],
    config: &SamplingConfig,
    use_cache: bool,
    on_token: impl FnMut(u32),
) -> Vec<u32> {
    generate_until(model, prompt, config, use_cache, None, on_token)
}

/// [`generate`], stopping early once `stop` (GPT-2's `<|endoftext|>`) is chosen; the stop token
/// is neither passed to `on_token` nor returned.
pub fn generate_until(
    model: &Gpt,
    prompt: &[u32],
    config: &SamplingConfig,
    use_cache: bool,
    stop: Option<u32>,
    mut on_token: impl FnMut(u32),
) -> Vec<u32> {
    let mut generation = Generation::new(model, prompt, config, use_cache, stop);
    while let Some(token) = generation.next_token(model) {
        on_token(token);
    }
    generation.into_new_tokens()
}

/// A continuation in progress, one token per [`Generation::next_token`]: what
/// [`generate_until`] loops over, and what an iterator over tokens (the Python package's
/// `generate`) steps through.
pub struct Generation {
    tokens: Vec<u32>,
    prompt_len: usize,
    /// Tokens not yet in the cache.
    pending: Vec<u32>,
    cache: KvCache,
    draws: Draws,
    config: SamplingConfig,
    use_cache: bool,
    stop: Option<u32>,
    finished: bool,
}

impl Generation {
    /// Panics on an empty prompt.
    pub fn new(
        model: &Gpt,
        prompt: &[u32],
        config: &SamplingConfig,
        use_cache: bool,
        stop: Option<u32>,
    ) -> Self {
        assert!(
            !prompt.is_empty(),
            "generation needs at least one prompt token"
        );
        let n_ctx = model.config().n_positions;
        Self {
            tokens: prompt.to_vec(),
            prompt_len: prompt.len(),
            pending: prompt[prompt.len().saturating_sub(n_ctx)..].to_vec(),
            cache: KvCache::default(),
            draws: Draws::new(config.seed, 0),
            config: config.clone(),
            use_cache,
            stop,
            finished: false,
        }
    }

    /// The next token, or None once `max_new_tokens` are made or the stop token was chosen.
    /// When the context fills up, the cache restarts from the last half of it.
    pub fn next_token(&mut self, model: &Gpt) -> Option<u32> {
        let made = self.tokens.len() - self.prompt_len;
        if self.finished || made >= self.config.max_new_tokens {
            return None;
        }
        let n_ctx = model.config().n_positions;
        let logits = if self.use_cache {
            if self.cache.len + self.pending.len() > n_ctx {
                self.cache = KvCache::default();
                self.pending = self.tokens[self.tokens.len() - n_ctx / 2..].to_vec();
            }
            let hidden = model
                .forward_cached(ids_row(&self.pending, &model.device()), &mut self.cache)
                .hidden;
            last_logits(model, hidden)
        } else {
            let window = &self.tokens[self.tokens.len().saturating_sub(n_ctx)..];
            last_logits(
                model,
                model
                    .forward(ids_row(window, &model.device()), false)
                    .hidden,
            )
        };
        let next = sample_next(&logits, &self.config, &mut self.draws);
        if Some(next) == self.stop {
            self.finished = true;
            return None;
        }
        self.tokens.push(next);
        self.pending = vec![next];
        Some(next)
    }

    /// The tokens made so far.
    pub fn into_new_tokens(self) -> Vec<u32> {
        self.tokens[self.prompt_len..].to_vec()
    }
}

/// Continues every prompt of `prompts` by `config.max_new_tokens` tokens at once, the way
/// `genpt serve` batches requests: each prompt is prefilled alone into its own key/value
/// cache, then every decoding step is one [`Gpt::forward_decode_each`] over all sequences
/// (the dense layers and the LM head batched, attention per sequence). Each sequence gets the
/// tokens that [`generate`] gives it alone (its own sampling stream, from `config.seed`).
/// Prompts longer than the context allows for the new tokens keep their last tokens.
pub fn generate_batch(model: &Gpt, prompts: &[Vec<u32>], config: &SamplingConfig) -> Vec<Vec<u32>> {
    assert!(
        prompts.iter().all(|p| !p.is_empty()),
        "generation needs at least one prompt token"
    );
    let n_ctx = model.config().n_positions;
    let new_tokens = config.max_new_tokens.min(n_ctx - 1);
    let keep = n_ctx - new_tokens;
    let vocab = model.config().vocab_size;
    let mut caches: Vec<KvCache> = Vec::with_capacity(prompts.len());
    let mut logits: Vec<f32> = Vec::with_capacity(prompts.len() * vocab);
    for prompt in prompts {
        let prompt = &prompt[prompt.len().saturating_sub(keep)..];
        let mut cache = KvCache::default();
        let hidden = model
            .forward_cached(ids_row(prompt, &model.device()), &mut cache)
            .hidden;
        logits.extend(last_logits(model, hidden));
        caches.push(cache);
    }
    let mut draws: Vec<Draws> = prompts.iter().map(|_| Draws::new(config.seed, 0)).collect();
    let mut out: Vec<Vec<u32>> = vec![Vec::with_capacity(new_tokens); prompts.len()];
    for step in 0..new_tokens {
        let next: Vec<u32> = (0..prompts.len())
            .map(|b| {
                let t = sample_next(&logits[b * vocab..(b + 1) * vocab], config, &mut draws[b]);
                out[b].push(t);
                t
            })
            .collect();
        if step + 1 < new_tokens {
            let mut refs: Vec<&mut KvCache> = caches.iter_mut().collect();
            let hidden = model.forward_decode_each(&next, &mut refs).hidden;
            logits = last_logits(model, hidden);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GptConfig;

    fn model() -> Gpt {
        let device = crate::device::device("flex").unwrap();
        device.seed(4);
        let mut config = GptConfig {
            vocab_size: 300,
            n_special: 3,
            n_positions: 40,
            n_embd: 32,
            n_layer: 2,
            n_head: 4,
            ..GptConfig::gpt1()
        };
        config.initializer_range = 0.3; // peaked distributions, so that greedy paths are informative
        Gpt::new(&config, &device)
    }

    #[test]
    fn generation_stops_at_the_stop_token() {
        let model = model();
        let config = SamplingConfig {
            temperature: 0.8,
            seed: 3,
            max_new_tokens: 30,
            ..Default::default()
        };
        let prompt = [5, 6, 7];
        let full = generate(&model, &prompt, &config, true, |_| {});
        // Stop at the fourth token chosen: the run ends just before its first occurrence.
        let stop = full[3];
        let first = full.iter().position(|&t| t == stop).unwrap();
        let mut seen = Vec::new();
        let stopped = generate_until(&model, &prompt, &config, true, Some(stop), |t| seen.push(t));
        assert_eq!(stopped, full[..first]);
        assert_eq!(seen, full[..first]);
    }

    #[test]
    fn cache_gives_the_same_tokens_as_recomputing() {
        let model = model();
        for config in [
            SamplingConfig {
                temperature: 0.0,
                max_new_tokens: 30,
                ..Default::default()
            },
            SamplingConfig {
                temperature: 0.9,
                top_k: 40,
                top_p: 0.95,
                seed: 9,
                max_new_tokens: 30,
            },
        ] {
            let with = generate(&model, &[5, 17, 3], &config, true, |_| {});
            let without = generate(&model, &[5, 17, 3], &config, false, |_| {});
            assert_eq!(with, without);
            assert_eq!(with.len(), 30);
            assert!(
                with.iter().all(|&t| t < 300),
                "only real tokens are sampled"
            );
        }
    }

    #[test]
    fn a_batch_of_prompts_gets_what_each_prompt_gets_alone() {
        let model = model();
        let prompts = vec![
            vec![5u32, 17, 3],
            vec![9],
            vec![1, 2, 3, 4, 5, 6, 7],
            vec![42, 42],
        ];
        for config in [
            SamplingConfig {
                temperature: 0.0,
                max_new_tokens: 12,
                ..Default::default()
            },
            SamplingConfig {
                temperature: 0.8,
                top_k: 50,
                seed: 3,
                max_new_tokens: 12,
                ..Default::default()
            },
        ] {
            let batched = generate_batch(&model, &prompts, &config);
            for (prompt, got) in prompts.iter().zip(&batched) {
                let alone = generate(&model, prompt, &config, true, |_| {});
                assert_eq!(
                    got, &alone,
                    "prompt {prompt:?} at temperature {}",
                    config.temperature
                );
            }
        }
    }

    #[test]
    fn cached_logits_equal_full_forward_logits() {
        let model = model();
        let ids = [1u32, 2, 3, 4, 5, 6, 7];
        let full = model.lm_logits(model.forward(ids_row(&ids, &model.device()), false).hidden);
        let full = full.host_values();
        let mut cache = KvCache::default();
        let mut stepwise = Vec::new();
        for chunk in [&ids[..3], &ids[3..4], &ids[4..]] {
            let h = model
                .forward_cached(ids_row(chunk, &model.device()), &mut cache)
                .hidden;
            stepwise.extend(model.lm_logits(h).host_values());
        }
        let worst = full
            .iter()
            .zip(&stepwise)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "cached logits differ by {worst}");
    }

    #[test]
    fn top_k_one_is_greedy_and_top_p_keeps_the_head() {
        let logits = [0.0f32, 3.0, 1.0, 2.9];
        let mut draws = Draws::new(1, 1);
        let k1 = SamplingConfig {
            top_k: 1,
            ..Default::default()
        };
        assert!((0..20).all(|_| sample_next(&logits, &k1, &mut draws) == 1));
        // softmax ≈ [0.022, 0.467, 0.063, 0.448]: p = 0.9 keeps tokens 1 and 3 only.
        let p = SamplingConfig {
            top_p: 0.9,
            ..Default::default()
        };
        let picks: Vec<u32> = (0..200)
            .map(|_| sample_next(&logits, &p, &mut draws))
            .collect();
        assert!(picks.iter().all(|&t| t == 1 || t == 3));
        assert!(picks.contains(&1) && picks.contains(&3));
    }
}
