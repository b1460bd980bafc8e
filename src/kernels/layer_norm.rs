//! LayerNorm over the last axis in one pass forward and one backward, the release's formula:
//! `y = (x − μ)/√(σ² + ε)·g + b` with the biased variance σ².
//!
//! Composed from tensor operations this is nine passes over the activations forward (each with
//! a new tensor) and as many again backward. Here the forward pass reads each row once for its
//! statistics and once to write `y`, keeping the row's mean and 1/√(σ²+ε) for the backward
//! pass, which reads `x` and `dy` once per row:
//! `dx = r·(dŷ − mean(dŷ) − x̂·mean(dŷ·x̂))` with `x̂ = (x − μ)·r`, `dŷ = dy·g`.

use rayon::prelude::*;

/// Rows per parallel task: enough work to amortise scheduling, small enough to balance.
fn rows_per_task(width: usize) -> usize {
    (16_384 / width.max(1)).max(1)
}

/// Forward pass over `x` [rows, width]: returns `y`, each row's mean and 1/√(σ²+ε).
pub fn forward(
    x: &[f32],
    gain: &[f32],
    bias: &[f32],
    width: usize,
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert!(
        width > 0 && x.len().is_multiple_of(width),
        "x is not [rows, width]"
    );
    assert!(
        gain.len() == width && bias.len() == width,
        "gain and bias are [width]"
    );
    let rows = x.len() / width;
    let mut y = vec![0f32; x.len()];
    let mut mean = vec![0f32; rows];
    let mut rstd = vec![0f32; rows];
    let task = rows_per_task(width);
    y.par_chunks_mut(task * width)
        .zip(x.par_chunks(task * width))
        .zip(mean.par_chunks_mut(task).zip(rstd.par_chunks_mut(task)))
        .for_each(|((y, x), (mean, rstd))| {
            for (((y, x), m), r) in y
                .chunks_exact_mut(width)
                .zip(x.chunks_exact(width))
                .zip(mean.iter_mut())
                .zip(rstd.iter_mut())
            {
                // Two-pass statistics in f64 sums: exact enough for any activation scale.
                let mu = x.iter().map(|&v| v as f64).sum::<f64>() / width as f64;
                let var = x.iter().map(|&v| (v as f64 - mu).powi(2)).sum::<f64>() / width as f64;
                let inv = 1.0 / (var + epsilon).sqrt();
                let (mu32, inv32) = (mu as f32, inv as f32);
                for (((y, &x), &g), &b) in y.iter_mut().zip(x).zip(gain).zip(bias) {
                    *y = (x - mu32) * inv32 * g + b;
                }
                *m = mu32;
                *r = inv32;
            }
        });
    (y, mean, rstd)
}

/// Backward pass: from `x`, the saved statistics and `dy`, returns dx, d(gain), d(bias).
pub fn backward(
    x: &[f32],
    gain: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dy: &[f32],
    width: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), dy.len());
    let rows = x.len() / width;
    assert!(mean.len() == rows && rstd.len() == rows);
    let mut dx = vec![0f32; x.len()];
    let task = rows_per_task(width);
    // Per task: its rows' dx, and partial sums of d(gain) and d(bias), added after in task
    // order: rayon's `reduce` would group them as its workers happened to steal the work, and
    // the same inputs could then give gradients that differ in the last bit.
    let partial: Vec<(Vec<f64>, Vec<f64>)> = dx
        .par_chunks_mut(task * width)
        .zip(x.par_chunks(task * width).zip(dy.par_chunks(task * width)))
        .zip(mean.par_chunks(task).zip(rstd.par_chunks(task)))
        .map(|((dx, (x, dy)), (mean, rstd))| {
            let mut dgain = vec![0f64; width];
            let mut dbias = vec![0f64; width];
            let mut dxhat = vec![0f32; width];
            for ((((dx, x), dy), &mu), &r) in dx
                .chunks_exact_mut(width)
                .zip(x.chunks_exact(width))
                .zip(dy.chunks_exact(width))
                .zip(mean)
                .zip(rstd)
            {
                let (mut sum_dxhat, mut sum_dxhat_xhat) = (0f64, 0f64);
                for c in 0..width {
                    let xhat = (x[c] - mu) * r;
                    let d = dy[c] * gain[c];
                    dxhat[c] = d;
                    sum_dxhat += d as f64;
                    sum_dxhat_xhat += (d * xhat) as f64;
                    dgain[c] += (dy[c] * xhat) as f64;
                    dbias[c] += dy[c] as f64;
                }
                let a = (sum_dxhat / width as f64) as f32;
                let b = (sum_dxhat_xhat / width as f64) as f32;
                for c in 0..width {
                    let xhat = (x[c] - mu) * r;
                    dx[c] = r * (dxhat[c] - a - xhat * b);
                }
            }
            (dgain, dbias)
        })
        .collect();
    let (mut dgain, mut dbias) = (vec![0f64; width], vec![0f64; width]);
    for (g, b) in &partial {
        for (sum, part) in dgain.iter_mut().zip(g) {
            *sum += part;
        }
        for (sum, part) in dbias.iter_mut().zip(b) {
            *sum += part;
        }
    }
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<_>>();
    (dx, to_f32(dgain), to_f32(dbias))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f64 LayerNorm and its gradient by central differences of Σ y·probe.
    #[test]
    fn forward_and_backward_match_the_formula_and_finite_differences() {
        let (rows, width, eps) = (5usize, 13usize, 1e-5);
        let x: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 37 % 29) as f32 - 14.0) * 0.3)
            .collect();
        let gain: Vec<f32> = (0..width).map(|c| 0.5 + c as f32 * 0.1).collect();
        let bias: Vec<f32> = (0..width).map(|c| c as f32 * -0.05).collect();
        let probe: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 11 % 7) as f32 - 3.0) * 0.25)
            .collect();
        let ln64 = |x: &[f64], gain: &[f64], bias: &[f64]| -> f64 {
            let mut total = 0.0;
            for r in 0..rows {
                let row = &x[r * width..(r + 1) * width];
                let mu = row.iter().sum::<f64>() / width as f64;
                let var = row.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / width as f64;
                for c in 0..width {
                    let y = (row[c] - mu) / (var + eps).sqrt() * gain[c] + bias[c];
                    total += y * probe[r * width + c] as f64;
                }
            }
            total
        };
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let g64: Vec<f64> = gain.iter().map(|&v| v as f64).collect();
        let b64: Vec<f64> = bias.iter().map(|&v| v as f64).collect();

        let (y, mean, rstd) = forward(&x, &gain, &bias, width, eps);
        let got: f64 = y
            .iter()
            .zip(&probe)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum();
        assert!((got - ln64(&x64, &g64, &b64)).abs() < 1e-4);

        let (dx, dgain, dbias) = backward(&x, &gain, &mean, &rstd, &probe, width);
        let h = 1e-5;
        let numeric = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
        for i in (0..rows * width).step_by(3) {
            let want = numeric(&|e| {
                let mut x = x64.clone();
                x[i] += e;
                ln64(&x, &g64, &b64)
            });
            assert!(
                (dx[i] as f64 - want).abs() < 1e-3 * (1.0 + want.abs()),
                "dx[{i}] {} vs {want}",
                dx[i]
            );
        }
        for c in 0..width {
            let want_g = numeric(&|e| {
                let mut g = g64.clone();
                g[c] += e;
                ln64(&x64, &g, &b64)
            });
            let want_b = numeric(&|e| {
                let mut b = b64.clone();
                b[c] += e;
                ln64(&x64, &g64, &b)
            });
            assert!((dgain[c] as f64 - want_g).abs() < 1e-3 * (1.0 + want_g.abs()));
            assert!((dbias[c] as f64 - want_b).abs() < 1e-3 * (1.0 + want_b.abs()));
        }
    }
}
