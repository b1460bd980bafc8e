//! The release's tanh GELU, `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, as one elementwise
//! pass forward and one backward (the composed path makes six tensors forward).
//!
//! With u = 2·√(2/π)·(x + 0.044715·x³) the function is x·σ(u) (since ½(1 + tanh z) = σ(2z)),
//! and its derivative is σ(u) + x·σ(u)·(1 − σ(u))·u′ with u′ = 2·√(2/π)·(1 + 3·0.044715·x²).

use rayon::prelude::*;

use super::simd::{self, multiversion};

const C: f32 = 2.0 * 0.797_884_6;
const A: f32 = 0.044715;
/// Elements per parallel task.
const TASK: usize = 1 << 14;

#[inline(always)]
fn sigmoid(u: f32) -> f32 {
    1.0 / (1.0 + simd::exp(-u))
}

#[inline(always)]
fn forward_body(x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = x * sigmoid(C * x * (1.0 + A * x * x));
    }
}

#[inline(always)]
fn backward_body(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
        let x2 = x * x;
        let s = sigmoid(C * x * (1.0 + A * x2));
        let du = C * (1.0 + 3.0 * A * x2);
        *dx = dy * (s + x * s * (1.0 - s) * du);
    }
}

multiversion! {
    fn forward_block(x: &[f32], y: &mut [f32]) = forward_body;
}
multiversion! {
    fn backward_block(x: &[f32], dy: &[f32], dx: &mut [f32]) = backward_body;
}

/// GELU of every element.
pub fn forward(x: &[f32]) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(TASK)
        .zip(x.par_chunks(TASK))
        .for_each(|(y, x)| forward_block(x, y));
    y
}

/// `dy · GELU′(x)` for every element.
pub fn backward(x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), dy.len());
    let mut dx = vec![0f32; x.len()];
    dx.par_chunks_mut(TASK)
        .zip(x.par_chunks(TASK).zip(dy.par_chunks(TASK)))
        .for_each(|(dx, (x, dy))| backward_block(x, dy, dx));
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gelu64(x: f64) -> f64 {
        0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
    }

    #[test]
    fn matches_the_tanh_formula_and_its_derivative() {
        // An odd length, so that the blocks' remainders run too; values out to ±12.
        let x: Vec<f32> = (0..20_011)
            .map(|i| (i as f32 - 10_005.0) * 0.0012)
            .collect();
        let y = forward(&x);
        let ones = vec![1f32; x.len()];
        let d = backward(&x, &ones);
        for (i, &v) in x.iter().enumerate() {
            let v64 = v as f64;
            assert!(
                (y[i] as f64 - gelu64(v64)).abs() < 1e-5 * (1.0 + v64.abs()),
                "gelu({v})"
            );
            let h = 1e-6;
            let want = (gelu64(v64 + h) - gelu64(v64 - h)) / (2.0 * h);
            assert!(
                (d[i] as f64 - want).abs() < 1e-5,
                "gelu'({v}): {} vs {want}",
                d[i]
            );
        }
    }
}
