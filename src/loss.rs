//! The language-modelling objective L1 (paper, eq. 1): the mean negative log-likelihood of each
//! next token, averaged over tokens and examples (never summed).

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

/// Log-probability of each target: `logits` [batch, time, vocab] scores `targets` [batch, time]
/// position by position; result [batch, time].
pub fn target_logprobs(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<2> {
    let [batch, time, _] = logits.dims();
    let targets = targets.reshape([batch, time, 1]);
    log_softmax(logits, 2)
        .gather(2, targets)
        .reshape([batch, time])
}

/// Log-probability of each next token: position t of the result scores `ids[t+1]` given
/// `ids[..=t]`. `logits`: [batch, time, vocab]; `ids`: [batch, time]; result [batch, time-1].
pub fn next_token_logprobs(logits: Tensor<3>, ids: Tensor<2, Int>) -> Tensor<2> {
    let time = logits.dims()[1];
    target_logprobs(logits.narrow(1, 0, time - 1), ids.narrow(1, 1, time - 1))
}

/// Mean next-token negative log-likelihood over every position of every sequence.
pub fn lm_loss(logits: Tensor<3>, ids: Tensor<2, Int>) -> Tensor<1> {
    next_token_logprobs(logits, ids).mean().neg()
}
