//! Dropout masks from a counter-based generator, made in parallel on the host.
//!
//! burn's Bernoulli sampling draws one ChaCha value per element on one thread (about 10% of a
//! training step in a profile). Here each mask element is a SplitMix64 hash of (seed, mask
//! number, index): as random for dropout, parallel, and a pure function of the seed, so a
//! resumed run reproduces every mask by reseeding at the same micro-batch.
//!
//! The sequence position (seed, masks drawn) belongs to the thread that runs the training loop,
//! not to the process: two loops on two threads (tests, or ranks sharing a process) each draw
//! their own masks. Masks are requested on that thread (a fused kernel takes its [`MaskKey`]
//! before it hands work to rayon's workers), so the workers never read this state.

use std::cell::Cell;

use rayon::prelude::*;

use super::splitmix64;

thread_local! {
    /// (seed, masks drawn since the last [`reseed`]) of this thread's sequence.
    static SEQUENCE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Starts a new, reproducible sequence of masks on this thread (training calls this per
/// micro-batch).
pub fn reseed(seed: u64) {
    SEQUENCE.with(|s| s.set((seed, 0)));
}

/// The next mask of the sequence, as a key from which any of its elements can be computed:
/// a fused kernel makes the mask while it applies it, and again in its backward pass, instead
/// of storing it.
pub fn next_key(p: f64) -> MaskKey {
    let (seed, number) = SEQUENCE.with(|s| {
        let (seed, number) = s.get();
        s.set((seed, number + 1));
        (seed, number)
    });
    MaskKey {
        base: splitmix64(seed ^ splitmix64(number)),
        // Keep when the top 32 bits fall below (1-p)·2³².
        threshold: ((1.0 - p) * 4_294_967_296.0) as u64,
        scale: (1.0 / (1.0 - p)) as f32,
    }
}

/// One dropout mask: element `i` is 0 with probability p, otherwise 1/(1-p).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskKey {
    base: u64,
    threshold: u64,
    scale: f32,
}

impl MaskKey {
    /// Element `i` of the mask.
    #[inline]
    pub fn value(&self, i: u64) -> f32 {
        let bits = splitmix64(self.base.wrapping_add(i)) >> 32;
        if bits < self.threshold {
            self.scale
        } else {
            0.0
        }
    }

    /// Elements `start..start + out.len()` of the mask, into `out`.
    pub fn fill(&self, start: u64, out: &mut [f32]) {
        for (i, v) in out.iter_mut().enumerate() {
            *v = self.value(start + i as u64);
        }
    }
}

/// `n` values: 0 with probability `p`, otherwise `1/(1-p)` (the next mask, materialised).
pub fn mask(n: usize, p: f64) -> Vec<f32> {
    let key = next_key(p);
    let mut out = vec![0f32; n];
    out.par_chunks_mut(1 << 14)
        .enumerate()
        .for_each(|(chunk, values)| key.fill((chunk << 14) as u64, values));
    out
}

/// Inverted dropout: zero each element with probability `p` and scale the survivors by
/// `1/(1-p)`, so that evaluation needs no rescaling. The identity when `p` is 0 or not training.
/// Masks come from [`next_key`] / [`mask`]; reseed it for reproducible masks.
pub fn dropout<const D: usize>(
    x: burn::tensor::Tensor<D>,
    p: f64,
    train: bool,
) -> burn::tensor::Tensor<D> {
    if !train || p == 0.0 {
        return x;
    }
    let shape = x.shape();
    let values = mask(shape.num_elements(), p);
    // In x's dtype: burn does not promote mixed operands (bf16 compute, `crate::precision`).
    let keep = burn::tensor::Tensor::<D>::from_data(
        burn::tensor::TensorData::new(values, shape),
        (&x.device(), x.dtype()),
    );
    x * keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_scale_and_reproducibility() {
        reseed(7);
        let a = mask(100_000, 0.1);
        let b = mask(100_000, 0.1);
        let dropped = a.iter().filter(|&&v| v == 0.0).count() as f64 / a.len() as f64;
        assert!((dropped - 0.1).abs() < 0.005, "dropped {dropped}");
        assert!(a.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.9).abs() < 1e-6));
        assert_ne!(a, b, "successive masks differ");
        reseed(7);
        assert_eq!(mask(100_000, 0.1), a, "reseeding replays the masks");
    }

    /// Each thread has its own sequence: another thread's reseeds and draws, interleaved with
    /// this one's, change nothing here (with a process-wide counter they would).
    #[test]
    fn threads_draw_independent_sequences() {
        reseed(11);
        let alone = [next_key(0.1), next_key(0.1), next_key(0.1)];
        reseed(11);
        let first = next_key(0.1);
        std::thread::spawn(|| {
            reseed(99);
            next_key(0.1);
            next_key(0.1);
        })
        .join()
        .unwrap();
        let rest = [next_key(0.1), next_key(0.1)];
        assert_eq!([first, rest[0], rest[1]], alone);
    }
}
