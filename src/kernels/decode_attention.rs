//! Attention for one new token over a key/value cache held on the host: what each decoding
//! step of `generate` and `serve` computes, `softmax(q·Kᵀ/√d)·V` per head, without the
//! composed path's batched-matmul slices, its concatenation of the cache (which copied every
//! cached key and value at every step) and its [1, heads, 1, past] intermediate tensors.
//!
//! The cache ([`HostKv`]) keeps one sequence's keys and values as [heads][capacity][head_dim]
//! rows and grows by doubling, so appending a token writes one row per head, and a step reads
//! each cached row once: the memory traffic of attention is the cache itself, the bound.
//! The composed reference is [`crate::model::gpt`]'s tensor path (`q.matmul(kᵀ)`, the causal
//! softmax, `·v`), which every backend runs and which the tests compare with.

use rayon::prelude::*;

use super::simd::{exp_shifted_sum, max, multiversion};

/// One sequence's cached keys and values, [heads][capacity][head_dim] each, `len` rows used.
#[derive(Debug, Clone)]
pub struct HostKv {
    heads: usize,
    head_dim: usize,
    capacity: usize,
    len: usize,
    k: Vec<f32>,
    v: Vec<f32>,
}

impl HostKv {
    /// A cache holding `len` tokens given as [heads][len][head_dim] keys and values (a
    /// prefill's), with room to grow.
    pub fn from_rows(heads: usize, head_dim: usize, len: usize, k: &[f32], v: &[f32]) -> Self {
        assert_eq!(
            k.len(),
            heads * len * head_dim,
            "keys [heads, len, head_dim]"
        );
        assert_eq!(v.len(), k.len(), "values like keys");
        let mut cache = Self {
            heads,
            head_dim,
            capacity: 0,
            len: 0,
            k: Vec::new(),
            v: Vec::new(),
        };
        cache.reserve(len);
        for h in 0..heads {
            let (src, dst) = (h * len * head_dim, h * cache.capacity * head_dim);
            let n = len * head_dim;
            cache.k[dst..dst + n].copy_from_slice(&k[src..src + n]);
            cache.v[dst..dst + n].copy_from_slice(&v[src..src + n]);
        }
        cache.len = len;
        cache
    }

    /// The first `len` tokens of this cache.
    pub fn truncated(&self, len: usize) -> Self {
        assert!(
            len <= self.len,
            "a cache of {} tokens cut to {len}",
            self.len
        );
        Self {
            len,
            ..self.clone()
        }
    }

    /// Tokens cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cached keys and values as [heads][len][head_dim] (for the composed path).
    pub fn rows(&self) -> (Vec<f32>, Vec<f32>) {
        let n = self.len * self.head_dim;
        let gather = |buf: &[f32]| {
            (0..self.heads)
                .flat_map(|h| {
                    let start = h * self.capacity * self.head_dim;
                    buf[start..start + n].iter().copied()
                })
                .collect()
        };
        (gather(&self.k), gather(&self.v))
    }

    /// Room for `len` tokens at least (capacity doubles, from 16).
    fn reserve(&mut self, len: usize) {
        if len <= self.capacity {
            return;
        }
        let capacity = len.next_power_of_two().max(16);
        let d = self.head_dim;
        let grow = |old: &[f32]| {
            let mut new = vec![0f32; self.heads * capacity * d];
            for h in 0..self.heads {
                let n = self.len * d;
                let (src, dst) = (h * self.capacity * d, h * capacity * d);
                new[dst..dst + n].copy_from_slice(&old[src..src + n]);
            }
            new
        };
        self.k = grow(&self.k);
        self.v = grow(&self.v);
        self.capacity = capacity;
    }

    /// Appends one token's keys and values (`heads × head_dim` each, head-major, as the
    /// QKV projection lays them out) and writes the token's attention output, head-major,
    /// into `out`: for each head, `softmax(scale·q·Kᵀ)·V` over every cached token and this one.
    pub fn append_and_attend(
        &mut self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        scale: f32,
        out: &mut [f32],
    ) {
        let (heads, d) = (self.heads, self.head_dim);
        assert!(
            q.len() == heads * d && k.len() == heads * d && v.len() == heads * d,
            "one token's q, k, v"
        );
        assert_eq!(out.len(), heads * d, "one token's output");
        self.reserve(self.len + 1);
        for h in 0..heads {
            let at = (h * self.capacity + self.len) * d;
            self.k[at..at + d].copy_from_slice(&k[h * d..(h + 1) * d]);
            self.v[at..at + d].copy_from_slice(&v[h * d..(h + 1) * d]);
        }
        self.len += 1;
        let (len, capacity) = (self.len, self.capacity);
        let (keys, values) = (&self.k, &self.v);
        out.par_chunks_mut(d).enumerate().for_each(|(h, out)| {
            let rows = h * capacity * d..(h * capacity + len) * d;
            attend(
                &q[h * d..(h + 1) * d],
                &keys[rows.clone()],
                &values[rows],
                scale,
                out,
            );
        });
    }
}

/// One head: `out = softmax(scale·q·Kᵀ)·V` for `keys`/`values` of `len` rows of `q.len()`.
fn attend(q: &[f32], keys: &[f32], values: &[f32], scale: f32, out: &mut [f32]) {
    let d = q.len();
    let mut scores: Vec<f32> = keys.chunks_exact(d).map(|k| dot(q, k) * scale).collect();
    let shift = max(&scores);
    let total = exp_shifted_sum(&mut scores, shift) as f32;
    out.fill(0.0);
    for (w, v) in scores.iter().zip(values.chunks_exact(d)) {
        axpy(w / total, v, out);
    }
}

/// Σ a[i]·b[i] in 16 partial sums (a fixed order: deterministic for a given length).
#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let (mut x, mut y) = (a.chunks_exact(16), b.chunks_exact(16));
    for (x, y) in (&mut x).zip(&mut y) {
        for ((s, &p), &q) in lanes.iter_mut().zip(x).zip(y) {
            *s += p * q;
        }
    }
    let mut sum: f32 = lanes.iter().sum();
    for (&p, &q) in x.remainder().iter().zip(y.remainder()) {
        sum += p * q;
    }
    sum
}

multiversion! {
    /// Σ a[i]·b[i].
    fn dot(a: &[f32], b: &[f32]) -> f32 = dot_body;
}

#[inline(always)]
fn axpy_body(w: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += w * x;
    }
}

multiversion! {
    /// `y[i] += w·x[i]`.
    fn axpy(w: f32, x: &[f32], y: &mut [f32]) = axpy_body;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut draws = crate::rng::Draws::new(seed, 0);
        (0..n)
            .map(|_| (draws.below(2001) as f32 - 1000.0) / 700.0)
            .collect()
    }

    /// The plain formula in f64, head by head, over [heads][len][d] rows.
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        heads: usize,
        len: usize,
        d: usize,
        scale: f64,
    ) -> Vec<f64> {
        let mut out = vec![0f64; heads * d];
        for h in 0..heads {
            let row =
                |buf: &[f32], j: usize| buf[(h * len + j) * d..(h * len + j + 1) * d].to_vec();
            let scores: Vec<f64> = (0..len)
                .map(|j| {
                    row(k, j)
                        .iter()
                        .zip(&q[h * d..(h + 1) * d])
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum::<f64>()
                        * scale
                })
                .collect();
            let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
            let total: f64 = e.iter().sum();
            for (j, e) in e.iter().enumerate() {
                for (o, &x) in out[h * d..(h + 1) * d].iter_mut().zip(&row(v, j)) {
                    *o += e / total * x as f64;
                }
            }
        }
        out
    }

    #[test]
    fn each_step_attends_over_every_cached_token_and_itself() {
        // Start from a prefill of 5 tokens, then append 30 one at a time (through two
        // capacity doublings: 16, 32, 64), checking every step against the formula.
        let (heads, d, scale) = (3, 20, 1.0 / 20f32.sqrt());
        let (prefill, steps) = (5, 30);
        let total = prefill + steps;
        // Keys and values of every token, [heads][total][d].
        let (k_all, v_all) = (values(heads * total * d, 1), values(heads * total * d, 2));
        let take = |buf: &[f32], len: usize| -> Vec<f32> {
            (0..heads)
                .flat_map(|h| buf[h * total * d..(h * total + len) * d].to_vec())
                .collect()
        };
        let prefilled = || {
            let (k, v) = (take(&k_all, prefill), take(&v_all, prefill));
            HostKv::from_rows(heads, d, prefill, &k, &v)
        };
        // The formula over the first `len` tokens' keys and values.
        let want = |q: &[f32], len: usize| {
            let (k, v) = (take(&k_all, len), take(&v_all, len));
            reference(q, &k, &v, heads, len, d, scale as f64)
        };
        let mut cache = prefilled();
        let mut worst = 0f64;
        for t in prefill..total {
            let token = |buf: &[f32]| -> Vec<f32> {
                (0..heads)
                    .flat_map(|h| buf[(h * total + t) * d..(h * total + t + 1) * d].to_vec())
                    .collect()
            };
            let q = values(heads * d, 100 + t as u64);
            let mut out = vec![0f32; heads * d];
            cache.append_and_attend(&q, &token(&k_all), &token(&v_all), scale, &mut out);
            for (g, w) in out.iter().zip(&want(&q, t + 1)) {
                worst = worst.max((*g as f64 - w).abs());
            }
        }
        assert_eq!(cache.len(), total);
        assert_eq!(
            cache.rows(),
            (k_all.clone(), v_all.clone()),
            "the cache holds every row"
        );
        assert!(worst < 2e-6, "off the formula by {worst:e}");
        // Negative control: attending without the token's own key and value is far off.
        let mut short = prefilled();
        let q = values(heads * d, 7);
        let mut out = vec![0f32; heads * d];
        short.append_and_attend(
            &q,
            &vec![0.0; heads * d],
            &vec![0.0; heads * d],
            scale,
            &mut out,
        );
        let off = out
            .iter()
            .zip(&want(&q, prefill + 1))
            .map(|(g, w)| (*g as f64 - w).abs())
            .fold(0.0, f64::max);
        assert!(off > 1e-2, "a wrong key went unnoticed ({off:e})");
    }
}
