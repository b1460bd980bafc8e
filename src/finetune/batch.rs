//! Padding a micro-batch of encoded examples into the tensors the classifier reads.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::EncodedExample;

/// A padded batch: ids [batch, choices, time] (pad id 0), mask [batch·choices, time].
pub struct Batch {
    pub ids: Tensor<3, Int>,
    pub mask: Tensor<2>,
    pub classify_at: Tensor<2, Int>,
    pub ids_flat: Tensor<2, Int>,
}

pub fn make_batch(examples: &[&EncodedExample], device: &Device) -> Batch {
    let batch = examples.len();
    let choices = examples[0].sequences.len();
    let time = examples
        .iter()
        .flat_map(|e| e.sequences.iter().map(Vec::len))
        .max()
        .unwrap_or(1)
        .max(2);
    let mut ids = vec![0i64; batch * choices * time];
    let mut mask = vec![0f32; batch * choices * time];
    let mut at = Vec::with_capacity(batch * choices);
    for (b, example) in examples.iter().enumerate() {
        assert_eq!(
            example.sequences.len(),
            choices,
            "every example of a task has the same number of choices"
        );
        for (c, seq) in example.sequences.iter().enumerate() {
            let row = (b * choices + c) * time;
            for (t, &id) in seq.iter().enumerate() {
                ids[row + t] = id as i64;
                mask[row + t] = 1.0;
            }
            at.push(example.classify_at[c] as i64);
        }
    }
    let ids_flat =
        Tensor::<2, Int>::from_data(TensorData::new(ids, [batch * choices, time]), device);
    Batch {
        ids: ids_flat.clone().reshape([batch, choices, time]),
        mask: Tensor::from_data(TensorData::new(mask, [batch * choices, time]), device),
        classify_at: Tensor::from_data(TensorData::new(at, [batch, choices]), device),
        ids_flat,
    }
}
