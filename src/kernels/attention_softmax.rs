//! The attention weights of a causal layer in one pass: scale, causal mask, softmax and
//! dropout, forward and backward.
//!
//! The composed path divides the scores [batch, heads, queries, keys] by √d, writes −1e9 where
//! a query may not look, takes the softmax (whose exp then underflows through libm's slow path
//! for every masked entry), draws a dropout mask tensor and multiplies by it: five tensors of
//! that size per layer, forward, and as many backward. Here each row is read once and written
//! once. Masked entries are never exponentiated: their weight is exactly 0, as the composed
//! path's underflow gives. The dropout mask is computed from its key where it is applied, and
//! again in the backward pass, never stored; it is the same mask, element for element, as the
//! composed path draws for the same key ([`crate::rng::dropout`]).

use rayon::prelude::*;

use super::simd;
use crate::rng::dropout::MaskKey;

/// Rows per parallel task.
fn rows_per_task(keys: usize) -> usize {
    (8_192 / keys.max(1)).max(1)
}

/// Which rows see which keys: query i of a [queries, keys] matrix sits at absolute position
/// `past + i` and sees keys `0 ..= past + i`.
#[derive(Debug, Clone, Copy)]
pub struct Causal {
    pub queries: usize,
    pub keys: usize,
    pub past: usize,
}

impl Causal {
    /// The visible keys of row `row` (over all rows of the tensor): `start..end`.
    #[inline]
    fn visible(&self, row: usize) -> (usize, usize) {
        (0, (self.past + row % self.queries + 1).min(self.keys))
    }
}

/// `scores` [rows, keys] (rows = batch·heads·queries) → the softmax probabilities `P` of
/// `scale·scores` under the causal mask, and, with dropout, the weights `P ⊙ mask` (else the
/// weights are `P` and only it is returned).
pub fn forward(
    scores: &[f32],
    causal: Causal,
    scale: f32,
    dropout: Option<MaskKey>,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let (queries, keys) = (causal.queries, causal.keys);
    assert!(
        keys > 0 && scores.len().is_multiple_of(queries * keys),
        "scores are not [.., queries, keys]"
    );
    let mut probs = vec![0f32; scores.len()];
    let mut weights = dropout.map(|_| vec![0f32; scores.len()]);
    let task = rows_per_task(keys) * keys;
    let body = |first_row: usize, p: &mut [f32], s: &[f32], w: Option<&mut [f32]>| {
        for (i, (p, s)) in p
            .chunks_exact_mut(keys)
            .zip(s.chunks_exact(keys))
            .enumerate()
        {
            let (start, end) = causal.visible(first_row + i);
            let p = &mut p[start..end];
            for (p, &s) in p.iter_mut().zip(&s[start..end]) {
                *p = s * scale;
            }
            let top = simd::max(p);
            let sum = simd::exp_shifted_sum(p, top);
            simd::scale(p, (1.0 / sum) as f32);
            // The masked keys (outside start..end) stay 0.
        }
        if let (Some(w), Some(key)) = (w, dropout) {
            let start = (first_row * keys) as u64;
            for (j, (w, &p)) in w.iter_mut().zip(p.iter()).enumerate() {
                *w = p * key.value(start + j as u64);
            }
        }
    };
    match weights.as_mut() {
        Some(w) => probs
            .par_chunks_mut(task)
            .zip(scores.par_chunks(task))
            .zip(w.par_chunks_mut(task))
            .enumerate()
            .for_each(|(t, ((p, s), w))| body(t * task / keys, p, s, Some(w))),
        None => probs
            .par_chunks_mut(task)
            .zip(scores.par_chunks(task))
            .enumerate()
            .for_each(|(t, (p, s))| body(t * task / keys, p, s, None)),
    }
    (probs, weights)
}

/// Gradient of the scores from that of the weights: with `dP = dW ⊙ mask`,
/// `dS = scale · P ⊙ (dP − Σⱼ dPⱼ·Pⱼ)` row by row (0 at masked keys, where P is 0).
pub fn backward(
    probs: &[f32],
    dweights: &[f32],
    keys: usize,
    scale: f32,
    dropout: Option<MaskKey>,
) -> Vec<f32> {
    assert_eq!(probs.len(), dweights.len());
    let mut dscores = vec![0f32; probs.len()];
    let task = rows_per_task(keys) * keys;
    dscores
        .par_chunks_mut(task)
        .zip(probs.par_chunks(task).zip(dweights.par_chunks(task)))
        .enumerate()
        .for_each(|(t, (ds, (p, dw)))| {
            let start = (t * task) as u64;
            for (r, ((ds, p), dw)) in ds
                .chunks_exact_mut(keys)
                .zip(p.chunks_exact(keys))
                .zip(dw.chunks_exact(keys))
                .enumerate()
            {
                let row_start = start + (r * keys) as u64;
                // ds holds dP first.
                match dropout {
                    Some(key) => {
                        for (j, (d, &g)) in ds.iter_mut().zip(dw).enumerate() {
                            *d = g * key.value(row_start + j as u64);
                        }
                    }
                    None => ds.copy_from_slice(dw),
                }
                let dot: f64 = ds.iter().zip(p).map(|(&d, &p)| (d * p) as f64).sum();
                let dot = dot as f32;
                for (d, &p) in ds.iter_mut().zip(p) {
                    *d = scale * p * (*d - dot);
                }
            }
        });
    dscores
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The composed definition in f64 for one [queries, keys] matrix.
    fn reference(s: &[f32], q: usize, k: usize, past: usize, scale: f64) -> Vec<f64> {
        let mut out = vec![0f64; q * k];
        for i in 0..q {
            let row: Vec<f64> = (0..k)
                .map(|j| {
                    if j <= past + i {
                        s[i * k + j] as f64 * scale
                    } else {
                        -1e9
                    }
                })
                .collect();
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = row.iter().map(|x| (x - m).exp()).sum();
            for j in 0..k {
                out[i * k + j] = (row[j] - m).exp() / sum;
            }
        }
        out
    }

    #[test]
    fn causal_softmax_matches_the_masked_formula_with_a_past() {
        // Two matrices (heads) of 5 queries over 7 keys: 2 cached keys before the queries.
        let (q, k, past) = (5, 7, 2);
        let s: Vec<f32> = (0..2 * q * k)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) * 0.7)
            .collect();
        let causal = Causal {
            queries: q,
            keys: k,
            past,
        };
        let (p, w) = forward(&s, causal, 0.5, None);
        assert!(w.is_none());
        for h in 0..2 {
            let want = reference(&s[h * q * k..(h + 1) * q * k], q, k, past, 0.5);
            for (a, b) in p[h * q * k..(h + 1) * q * k].iter().zip(&want) {
                assert!((*a as f64 - b).abs() < 1e-6, "{a} vs {b}");
            }
        }
    }
}
