//! Elementwise passes that apply a dropout mask made on the spot from its key
//! ([`crate::rng::dropout::MaskKey`]): the mask is never stored, and element i is the
//! same as in the materialised mask of the same key.

use rayon::prelude::*;

use crate::rng::dropout::MaskKey;

/// Elements per parallel task.
const TASK: usize = 1 << 14;

/// `x + y ⊙ mask` (no key: `x + y`).
pub fn add_masked(x: &[f32], y: &[f32], key: Option<MaskKey>) -> Vec<f32> {
    assert_eq!(x.len(), y.len());
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(TASK)
        .zip(x.par_chunks(TASK).zip(y.par_chunks(TASK)))
        .enumerate()
        .for_each(|(t, (out, (x, y)))| {
            let start = (t * TASK) as u64;
            match key {
                Some(key) => {
                    for (i, ((o, &x), &y)) in out.iter_mut().zip(x).zip(y).enumerate() {
                        *o = x + y * key.value(start + i as u64);
                    }
                }
                None => {
                    for ((o, &x), &y) in out.iter_mut().zip(x).zip(y) {
                        *o = x + y;
                    }
                }
            }
        });
    out
}

/// `g ⊙ mask`.
pub fn times_mask(g: &[f32], key: MaskKey) -> Vec<f32> {
    let mut out = vec![0f32; g.len()];
    out.par_chunks_mut(TASK)
        .zip(g.par_chunks(TASK))
        .enumerate()
        .for_each(|(t, (out, g))| {
            let start = (t * TASK) as u64;
            for (i, (o, &g)) in out.iter_mut().zip(g).enumerate() {
                *o = g * key.value(start + i as u64);
            }
        });
    out
}
