//! The LM head and its loss in one pass over row chunks ("fused linear cross-entropy").
//!
//! The composed path multiplies the hidden states [N, d] by the tied output matrix Wᵀ [d, V]
//! into logits [N, V], then takes a log-softmax, gathers the targets, and in the backward pass
//! writes the logits' gradient [N, V] before two more products. At N = 1024 and V = 40,478 each
//! of those [N, V] tensors is 166 MB, made and read several times per step; for the mini model
//! they are most of the step's memory traffic.
//!
//! Here rows are taken `chunk` at a time. For each chunk the logits [chunk, V] are computed
//! into one reused buffer, turned into softmax probabilities in place, and, when gradients are
//! wanted, into the loss gradient `w_r·(p − onehot(t_r))`, which is multiplied straight away into
//! dH (chunk rows) and accumulated into dW. No [N, V] tensor exists at any time. Because the
//! loss is a weighted sum `Σ_r w_r·nll_r` with the weights known up front, the gradients are
//! complete after this one pass: the backward pass only scales them by the incoming gradient.
//!
//! Rows of weight zero (padding, special-token targets) are skipped entirely.

use rayon::prelude::*;

use super::simd;

/// Rows per chunk: logits of `chunk × V` floats stay in the last-level cache (20 MB at V =
/// 40,478 and 128 rows) while being reused three times. `GENPT_LCE_CHUNK` overrides it.
fn chunk_rows(vocab: usize) -> usize {
    crate::settings::get()
        .lce_chunk
        .unwrap_or_else(|| (20_000_000 / (4 * vocab.max(1))).clamp(16, 512))
}

/// Shapes and data of one call. `hidden` [n, d] and `weight` [v, d] are row-major.
pub struct Problem<'a> {
    pub hidden: &'a [f32],
    pub weight: &'a [f32],
    pub targets: &'a [i64],
    pub n: usize,
    pub d: usize,
    pub v: usize,
}

/// What a call returns: the target log-probabilities of the rows it looked at (0 for skipped
/// rows), and dH [n, d] and dW [v, d] of `Σ_r w_r·nll_r` when asked for.
pub struct Output {
    pub logprobs: Vec<f32>,
    pub grads: Option<(Vec<f32>, Vec<f32>)>,
}

/// `out[m, n] (+)= a · b`, all row-major with the given row strides, on every core.
///
/// `transpose_b` reads `b` as [n, k] (so the product is a·bᵀ); `transpose_a` reads `a` as
/// [k, m]. `accumulate` adds to `out` instead of overwriting it.
#[allow(clippy::too_many_arguments)]
fn matmul(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    (m, k, n): (usize, usize, usize),
    transpose_a: bool,
    transpose_b: bool,
    accumulate: bool,
) {
    assert!(out.len() >= m * n);
    assert!(a.len() >= m * k && b.len() >= k * n);
    // gemm's strides: `cs` steps between columns, `rs` between rows.
    let (a_cs, a_rs) = if transpose_a {
        (m as isize, 1)
    } else {
        (1, k as isize)
    };
    let (b_cs, b_rs) = if transpose_b {
        (k as isize, 1)
    } else {
        (1, n as isize)
    };
    let parallelism = if m * n * k >= 1 << 18 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index gemm computes from these shapes and strides
    // inside the three slices; `out` does not alias `a` or `b` (it is a distinct &mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Target log-probabilities of the rows of nonzero weight (all rows without `row_weights`),
/// and with `want_grads` the gradients of `Σ_r w_r·(−logprob_r)`. Targets must lie in `0..v`
/// (checked).
pub fn run(problem: &Problem, row_weights: Option<&[f32]>, want_grads: bool) -> Output {
    run_chunked(
        problem,
        row_weights,
        want_grads,
        chunk_rows(problem.v),
        false,
    )
}

/// [`run`] with the three products (logits `H·Wᵀ`, `dH = G·W`, `dW = Gᵀ·H`) in bf16 with fp32
/// sums ([`super::bf16_gemm`]; W packed once per call); the softmax, the loss and every buffer
/// stay fp32. Only where [`super::bf16_gemm::available`].
pub fn run_bf16(problem: &Problem, row_weights: Option<&[f32]>, want_grads: bool) -> Output {
    run_chunked(
        problem,
        row_weights,
        want_grads,
        chunk_rows(problem.v),
        true,
    )
}

/// [`run`] over chunks of `chunk` rows, the products in bf16 when `bf16`.
fn run_chunked(
    problem: &Problem,
    row_weights: Option<&[f32]>,
    want_grads: bool,
    chunk: usize,
    bf16: bool,
) -> Output {
    let Problem {
        hidden,
        weight,
        targets,
        n,
        d,
        v,
    } = *problem;
    assert_eq!(hidden.len(), n * d, "hidden is not [n, d]");
    assert_eq!(weight.len(), v * d, "weight is not [v, d]");
    assert_eq!(targets.len(), n, "one target per row");
    if let Some(t) = targets.iter().find(|&&t| t < 0 || t as usize >= v) {
        panic!("target {t} outside the vocabulary of {v}");
    }
    let rows: Vec<usize> = match row_weights {
        Some(w) => {
            assert_eq!(w.len(), n, "one weight per row");
            (0..n).filter(|&r| w[r] != 0.0).collect()
        }
        None => (0..n).collect(),
    };
    assert!(chunk > 0, "a chunk holds at least one row");
    let mut logprobs = vec![0f32; n];
    assert!(
        !want_grads || row_weights.is_some(),
        "gradients need row weights"
    );
    let grad_weights = row_weights.filter(|_| want_grads);
    let mut grads = grad_weights.map(|_| (vec![0f32; n * d], vec![0f32; v * d]));
    let mut logits = vec![0f32; chunk.min(rows.len().max(1)) * v];
    // In bf16, W is packed once for the logits (as Wᵀ, [d, v]) and once for dH ([v, d]).
    use super::bf16_gemm::{self, Strided};
    let packed = bf16.then(|| {
        let w = Strided::row_major(weight, v, d);
        (
            bf16_gemm::pack(w.t()),
            want_grads.then(|| bf16_gemm::pack(w)),
        )
    });
    let mut h_chunk = vec![0f32; chunk * d];
    let mut dh_chunk = vec![0f32; chunk * d];
    let mut first_dw = true;

    for chunk_rows in rows.chunks(chunk) {
        let m = chunk_rows.len();
        // Gather this chunk's hidden rows (contiguous already when no row is skipped).
        for (i, &r) in chunk_rows.iter().enumerate() {
            h_chunk[i * d..(i + 1) * d].copy_from_slice(&hidden[r * d..(r + 1) * d]);
        }
        let h = &h_chunk[..m * d];
        let z = &mut logits[..m * v];
        match &packed {
            Some((wt, _)) => bf16_gemm::gemm_packed(Strided::row_major(h, m, d), wt, z, false),
            None => matmul(z, h, weight, (m, d, v), false, true, false),
        }

        // Row by row: log-sum-exp, the target's log-probability, and (for gradients) the
        // probabilities scaled by the row weight, minus the weight at the target.
        z.par_chunks_mut(v)
            .zip(chunk_rows.par_iter())
            .map(|(row, &r)| {
                let target = targets[r] as usize;
                let top = simd::max(row);
                let target_logit = row[target];
                match grad_weights {
                    None => {
                        let sum = simd::sum_exp_shifted(row, top);
                        target_logit - top - (sum.ln() as f32)
                    }
                    Some(w) => {
                        let sum = simd::exp_shifted_sum(row, top);
                        simd::scale(row, (w[r] as f64 / sum) as f32);
                        row[target] -= w[r];
                        target_logit - top - (sum.ln() as f32)
                    }
                }
            })
            .collect::<Vec<f32>>()
            .into_iter()
            .zip(chunk_rows)
            .for_each(|(lp, &r)| logprobs[r] = lp);

        if let Some((dh, dw)) = grads.as_mut() {
            let g = &logits[..m * v];
            // dH_chunk = G · W   ([m, v] × [v, d])
            match &packed {
                Some((_, Some(w))) => bf16_gemm::gemm_packed(
                    Strided::row_major(g, m, v),
                    w,
                    &mut dh_chunk[..m * d],
                    false,
                ),
                _ => matmul(
                    &mut dh_chunk[..m * d],
                    g,
                    weight,
                    (m, v, d),
                    false,
                    false,
                    false,
                ),
            }
            for (i, &r) in chunk_rows.iter().enumerate() {
                dh[r * d..(r + 1) * d].copy_from_slice(&dh_chunk[i * d..(i + 1) * d]);
            }
            // dW (+)= Gᵀ · H_chunk   ([v, m] × [m, d])
            if bf16 {
                let (g, h) = (Strided::row_major(g, m, v).t(), Strided::row_major(h, m, d));
                bf16_gemm::gemm(g, h, dw, !first_dw);
            } else {
                matmul(dw, g, h, (v, m, d), true, false, !first_dw);
            }
            first_dw = false;
        }
    }
    Output { logprobs, grads }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook formulas in f64, one row at a time: the reference for the kernel.
    fn reference(p: &Problem, w: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (n, d, v) = (p.n, p.d, p.v);
        let mut lp = vec![0f64; n];
        let mut dh = vec![0f64; n * d];
        let mut dw = vec![0f64; v * d];
        for r in 0..n {
            let z: Vec<f64> = (0..v)
                .map(|j| {
                    (0..d)
                        .map(|c| p.hidden[r * d + c] as f64 * p.weight[j * d + c] as f64)
                        .sum()
                })
                .collect();
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + z.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
            let t = p.targets[r] as usize;
            lp[r] = z[t] - lse;
            for j in 0..v {
                let g = w[r] as f64 * ((z[j] - lse).exp() - if j == t { 1.0 } else { 0.0 });
                for c in 0..d {
                    dh[r * d + c] += g * p.weight[j * d + c] as f64;
                    dw[j * d + c] += g * p.hidden[r * d + c] as f64;
                }
            }
        }
        (lp, dh, dw)
    }

    fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let h = crate::rng::splitmix64(seed ^ (i as u64).wrapping_mul(0x9e37));
                ((h >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
            })
            .collect()
    }

    #[test]
    fn matches_the_formulas_on_odd_sizes_and_chunks() {
        // Sizes that are not multiples of any SIMD width; a chunk smaller than the rows so that
        // dW accumulates over several chunks; some rows skipped by a zero weight.
        for (n, d, v, chunk) in [(7, 5, 23, 3), (13, 17, 101, 4), (5, 3, 7, 64)] {
            let hidden = values(n * d, 1, 4.0);
            let weight = values(v * d, 2, 4.0);
            let targets: Vec<i64> = (0..n).map(|r| ((r * 7 + 3) % v) as i64).collect();
            let w: Vec<f32> = (0..n)
                .map(|r| {
                    if r % 4 == 1 {
                        0.0
                    } else {
                        0.1 + r as f32 * 0.01
                    }
                })
                .collect();
            let p = Problem {
                hidden: &hidden,
                weight: &weight,
                targets: &targets,
                n,
                d,
                v,
            };
            let out = run_chunked(&p, Some(&w), true, chunk, false);
            let forward_only = run_chunked(&p, None, false, chunk, false);
            let (lp, dh, dw) = reference(&p, &w);
            let (gh, gw) = out.grads.unwrap();
            let close = |a: f32, b: f64| (a as f64 - b).abs() <= 1e-5 * (1.0 + b.abs());
            for r in 0..n {
                assert!(close(forward_only.logprobs[r], lp[r]), "logprob row {r}");
                if w[r] != 0.0 {
                    assert!(close(out.logprobs[r], lp[r]), "weighted logprob row {r}");
                }
            }
            for (i, (&a, &b)) in gh.iter().zip(&dh).enumerate() {
                assert!(close(a, b), "dH[{i}] {a} vs {b} ({n},{d},{v})");
            }
            for (i, (&a, &b)) in gw.iter().zip(&dw).enumerate() {
                assert!(close(a, b), "dW[{i}] {a} vs {b} ({n},{d},{v})");
            }
        }
    }

    #[test]
    fn bf16_products_match_the_formulas_on_rounded_operands() {
        use crate::kernels::bf16_gemm::{available, from_bf16, to_bf16};
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        let round = |v: &[f32]| -> Vec<f32> { v.iter().map(|&x| from_bf16(to_bf16(x))).collect() };
        for (n, d, v, chunk) in [(13, 17, 101, 4), (40, 70, 300, 16)] {
            let hidden = values(n * d, 5, 4.0);
            let weight = values(v * d, 6, 4.0);
            let targets: Vec<i64> = (0..n).map(|r| ((r * 7 + 3) % v) as i64).collect();
            let w: Vec<f32> = (0..n)
                .map(|r| if r % 5 == 2 { 0.0 } else { 0.05 })
                .collect();
            let problem = |hidden: &'static [f32], weight: &'static [f32]| Problem {
                hidden,
                weight,
                targets: Box::leak(targets.clone().into_boxed_slice()),
                n,
                d,
                v,
            };
            let (h_r, w_r): (&'static [f32], &'static [f32]) = (
                Box::leak(round(&hidden).into_boxed_slice()),
                Box::leak(round(&weight).into_boxed_slice()),
            );
            let (h, wt): (&'static [f32], &'static [f32]) = (
                Box::leak(hidden.into_boxed_slice()),
                Box::leak(weight.into_boxed_slice()),
            );
            let out = run_chunked(&problem(h, wt), Some(&w), true, chunk, true);
            // The formulas at the rounded operands, in f64.
            let (lp, dh, dw) = reference(&problem(h_r, w_r), &w);
            for r in (0..n).filter(|&r| w[r] != 0.0) {
                let e = (out.logprobs[r] as f64 - lp[r]).abs();
                assert!(e <= 1e-5 * (1.0 + lp[r].abs()), "logprob row {r}: {e:e}");
            }
            // The gradients also round G (the softmax minus the target) to bf16 for their
            // products: bf16 precision relative to their scale.
            let (gh, gw) = out.grads.unwrap();
            for (got, want, name) in [(&gh, &dh, "dH"), (&gw, &dw, "dW")] {
                let scale = want.iter().fold(0f64, |m, x| m.max(x.abs()));
                let e = got
                    .iter()
                    .zip(want)
                    .map(|(&a, b)| (a as f64 - b).abs())
                    .fold(0.0, f64::max);
                assert!(
                    e <= 1e-2 * scale,
                    "{name} ({n},{d},{v}): {e:e} of {scale:e}"
                );
            }
            // Negative control: against the unrounded operands the log-probabilities are off by
            // far more than the tolerance above (the products really ran in bf16).
            let (lp32, _, _) = reference(&problem(h, wt), &w);
            let off = (0..n)
                .filter(|&r| w[r] != 0.0)
                .map(|r| (out.logprobs[r] as f64 - lp32[r]).abs())
                .fold(0.0, f64::max);
            assert!(off > 1e-4, "bf16 logits equal the fp32 ones ({off:e})");
        }
    }
}
