//! The fine-tuning objective `L3 = L2 + λ·L1` (paper, eq. 5), as the release computes it:
//! L2 is the mean classification loss over examples; L1 is, for each input sequence, the mean
//! next-token loss over its real (unpadded) tokens, then the mean over sequences.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use crate::loss::target_logprobs;
use crate::Gpt;

/// Mean cross-entropy of `logits` [batch, classes] against `labels` [batch].
pub fn classification_loss(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [batch, _] = logits.dims();
    log_softmax(logits, 1)
        .gather(1, labels.reshape([batch, 1]))
        .mean()
        .neg()
}

/// Mean squared error of one output per example (`predictions` [batch, 1]) against `targets`.
pub fn regression_loss(predictions: Tensor<2>, targets: Tensor<1>) -> Tensor<1> {
    let [batch, _] = predictions.dims();
    (predictions.reshape([batch]) - targets).square().mean()
}

/// The auxiliary LM loss L1. `logits` [sequences, time, vocab] over `ids` [sequences, time];
/// `mask` [sequences, time] is 1 on real tokens and 0 on padding. Position t predicts t+1 and
/// counts when token t+1 is a real text token: the delimiter and classify tokens have no row in
/// the LM head (which covers the vocabulary only), so they are not targets. (The release's head
/// spans every embedding row and does count them; they are a few easy tokens per sequence.)
///
/// This is the composed reference, from full logits; training uses [`lm_aux_loss`].
pub fn lm_aux_loss_from_logits(
    logits: Tensor<3>,
    ids: Tensor<2, Int>,
    mask: Tensor<2>,
) -> Tensor<1> {
    let [sequences, time] = ids.dims();
    let vocab = logits.dims()[2];
    let targets = ids.narrow(1, 1, time - 1);
    let in_vocab = targets.clone().lower_elem(vocab as i64).float();
    let target_mask = mask.narrow(1, 1, time - 1) * in_vocab;
    let predictions = logits.narrow(1, 0, time - 1);
    let nll = target_logprobs(predictions, targets.clamp_max(vocab as i64 - 1)).neg()
        * target_mask.clone();
    let per_sequence = nll.sum_dim(1) / target_mask.sum_dim(1).clamp_min(1.0);
    per_sequence.reshape([sequences]).mean()
}

/// L1 as above from the final hidden states [sequences, time, width] of `gpt`, through the
/// fused LM head: each counted position weighs 1/(its sequence's count)/(sequences), the rest 0,
/// and the [sequences·time, vocab] logits are never formed.
pub fn lm_aux_loss(
    gpt: &Gpt,
    hidden: Tensor<3>,
    ids: Tensor<2, Int>,
    mask: Tensor<2>,
) -> Tensor<1> {
    let [sequences, time] = ids.dims();
    let vocab = gpt.config().vocab_size as i64;
    let targets = ids.narrow(1, 1, time - 1);
    let in_vocab = targets.clone().lower_elem(vocab).float();
    let target_mask = mask.narrow(1, 1, time - 1) * in_vocab;
    let counts = target_mask.clone().sum_dim(1).clamp_min(1.0);
    let weights = (target_mask / counts).div_scalar(sequences as f64);
    gpt.lm_loss_weighted(
        hidden.narrow(1, 0, time - 1),
        targets.clamp_max(vocab - 1),
        weights,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn device() -> burn::tensor::Device {
        crate::device::device("flex").unwrap()
    }

    #[test]
    fn cross_entropy_by_hand() {
        let d = device();
        // Row 0: logits [0, ln 3] → p(class 1) = 3/4; row 1: [0, 0] → p(class 0) = 1/2.
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 3f32.ln(), 0.0, 0.0], [2, 2]),
            &d,
        );
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 0], [2]), &d);
        let loss = classification_loss(logits, labels).into_scalar::<f32>() as f64;
        let want = -((0.75f64).ln() + (0.5f64).ln()) / 2.0;
        assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
    }

    #[test]
    fn aux_loss_ignores_padding_and_averages_per_sequence() {
        let d = device();
        // Vocab 2, uniform logits except sequence 0 position 0 which puts p = 0.8 on token 1.
        let l = (4.0f32).ln();
        let logits: Vec<f32> = vec![
            0.0, l, 0.0, 0.0, 0.0, 0.0, /* seq 1 */ 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let logits = Tensor::<3>::from_data(TensorData::new(logits, [2, 3, 2]), &d);
        let ids =
            Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 1, 0, 1, 0, 1], [2, 3]), &d);
        // Sequence 0 has 2 real tokens (1 prediction: -ln 0.8); sequence 1 has 3 (2 × ln 2).
        let mask = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 1.0, 0.0, 1.0, 1.0, 1.0], [2, 3]),
            &d,
        );
        let loss = lm_aux_loss_from_logits(logits, ids, mask).into_scalar::<f32>() as f64;
        let want = (-(0.8f64).ln() + 2f64.ln()) / 2.0;
        assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
    }
}
