//! Where data-parallel training joins the update: after each process has averaged the
//! gradients of its own micro-batches, and before the global norm is clipped, every process
//! must hold the mean over all processes (docs/multi-gpu.md).
//!
//! One process has nothing to exchange: [`LocalSync`] leaves the gradients untouched (not even
//! a multiplication by one), so single-process training is bit for bit what it was before this
//! hook existed. A collective implementation (an all-reduce through burn's collectives) slots
//! in behind the same trait without changing the loop.

use super::NamedGrads;

/// Makes the averaged gradients of one update the same on every process of a run.
pub trait GradientSync {
    /// Number of processes whose gradients are combined (1: single process).
    fn world_size(&self) -> usize;

    /// This process' rank in `0..world_size`; rank 0 writes checkpoints and logs.
    fn rank(&self) -> usize;

    /// Replaces `grads` (this process' average over its micro-batches) by the mean over all
    /// processes, in the same order on each: a sum all-reduce divided by `world_size`.
    fn all_reduce_mean(&mut self, grads: &mut NamedGrads) -> anyhow::Result<()>;
}

/// One process: nothing to combine.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalSync;

impl GradientSync for LocalSync {
    fn world_size(&self) -> usize {
        1
    }

    fn rank(&self) -> usize {
        0
    }

    fn all_reduce_mean(&mut self, _grads: &mut NamedGrads) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};

    use super::*;

    fn grads(values: &[f32]) -> NamedGrads {
        let device = crate::device::device("flex").unwrap();
        let mut g = NamedGrads::default();
        g.grads.insert(
            "h.0.w".into(),
            Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), &device),
        );
        g.count = 1;
        g
    }

    fn bits(g: &NamedGrads) -> Vec<u32> {
        g.grads["h.0.w"]
            .to_data()
            .try_to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    /// Values whose scaling by anything but exactly 1 would change a bit: a subnormal, the
    /// largest finite f32, one ulp above 1, a negative zero.
    const AWKWARD: [f32; 5] = [f32::MIN_POSITIVE / 3.0, f32::MAX, 1.000_000_1, -0.0, 0.1];

    #[test]
    fn local_sync_leaves_every_bit() {
        let mut g = grads(&AWKWARD);
        let before: Vec<u32> = AWKWARD.iter().map(|v| v.to_bits()).collect();
        let mut sync = LocalSync;
        sync.all_reduce_mean(&mut g).unwrap();
        assert_eq!(bits(&g), before);
        assert_eq!((sync.world_size(), sync.rank(), g.count), (1, 0, 1));
    }

    /// A stand-in for the collective: the mean over `ranks` copies computed as an all-reduce
    /// would (sum, then divide). Replicas holding the same gradients must get them back, which
    /// a sum without the division (the negative control) does not.
    #[test]
    fn mean_of_identical_replicas_is_the_identity() {
        struct SumOf(usize, bool);
        impl GradientSync for SumOf {
            fn world_size(&self) -> usize {
                self.0
            }
            fn rank(&self) -> usize {
                0
            }
            fn all_reduce_mean(&mut self, grads: &mut NamedGrads) -> anyhow::Result<()> {
                for g in grads.grads.values_mut() {
                    let sum = (1..self.0).fold(g.clone(), |acc, _| acc + g.clone());
                    *g = if self.1 {
                        sum.div_scalar(self.0 as f64)
                    } else {
                        sum
                    };
                }
                Ok(())
            }
        }
        let values = [0.25f32, -3.0, 1.5, 0.0];
        let expected: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
        let mut g = grads(&values);
        SumOf(4, true).all_reduce_mean(&mut g).unwrap();
        assert_eq!(bits(&g), expected);
        let mut g = grads(&values);
        SumOf(4, false).all_reduce_mean(&mut g).unwrap();
        assert_ne!(bits(&g), expected, "negative control: a sum is not a mean");
    }
}
