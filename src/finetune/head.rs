//! The discriminative head of section 3.2 and the task-aware pooling of section 3.3.
//!
//! Every task arrives as `[batch, choices, time]` token ids with the position of the classify
//! token in each sequence: 1 choice for classification and entailment, 2 orderings for
//! similarity, k answers for multiple choice. The final hidden state at the classify token
//! (`h_l^m`) is the sequence's representation; then
//! - classification / entailment: `W_y · dropout(h)` → class logits;
//! - similarity: the two orderings' states are *summed* before the linear layer;
//! - multiple choice: `W_y · dropout(h_k)` gives one score per answer, softmaxed over answers.
//!
//! Classifier dropout draws one mask per example and shares it across that example's choices,
//! as the release does (its `clf_h` dropout has `noise_shape` with a broadcast choice axis).

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor};

use crate::model::layers::{param, Init};

/// How the per-choice states become predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Pooling {
    /// One sequence per example → `n_outputs` logits (classification, entailment, regression).
    Single,
    /// Two orderings per example, states summed → `n_outputs` logits (similarity).
    SumOrderings,
    /// One sequence per answer, one score each → softmax over answers (multiple choice, QA).
    PerChoiceScore,
}

#[derive(Module, Debug)]
pub struct ClassifierHead {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
    #[module(skip)]
    pub pooling: Pooling,
    #[module(skip)]
    pub dropout: f64,
}

impl ClassifierHead {
    /// `n_outputs` classes (1 for regression and for multiple choice). The release initialises
    /// the head like every other weight, N(0, 0.02), with a zero bias: drawn here, from the
    /// device's generator.
    pub fn new(
        n_embd: usize,
        n_outputs: usize,
        pooling: Pooling,
        dropout: f64,
        device: &Device,
    ) -> Self {
        crate::model::layers::initialize_now(Self::new_lazy(
            n_embd, n_outputs, pooling, dropout, device,
        ))
    }

    /// [`Self::new`] with its parameters not drawn yet: the starting point for loading a saved
    /// head, which draws nothing.
    pub fn new_lazy(
        n_embd: usize,
        n_outputs: usize,
        pooling: Pooling,
        dropout: f64,
        device: &Device,
    ) -> Self {
        let n_outputs = if pooling == Pooling::PerChoiceScore {
            1
        } else {
            n_outputs
        };
        Self {
            weight: param([n_embd, n_outputs], Init::Normal(0.02), device),
            bias: param([n_outputs], Init::Zeros, device),
            pooling,
            dropout,
        }
    }

    /// `hidden`: [batch·choices, time, width] from the transformer; `classify_at`: [batch,
    /// choices] positions of the classify token. Returns [batch, outputs] logits, where outputs
    /// is the class count, or the number of choices for multiple choice.
    pub fn forward(
        &self,
        hidden: Tensor<3>,
        classify_at: Tensor<2, Int>,
        train: bool,
    ) -> Tensor<2> {
        let [batch, choices] = classify_at.dims();
        let [_, _, width] = hidden.dims();
        // Gather h at each sequence's classify token: [batch·choices, 1, width].
        let index =
            classify_at
                .reshape([batch * choices, 1, 1])
                .expand([batch * choices, 1, width]);
        let pooled = hidden.gather(1, index).reshape([batch, choices, width]);
        let pooled = match self.pooling {
            Pooling::SumOrderings => pooled.sum_dim(1), // [batch, 1, width]
            Pooling::Single | Pooling::PerChoiceScore => pooled,
        };
        let pooled = shared_dropout(pooled, self.dropout, train);
        let [b, c, w] = pooled.dims();
        let outputs = self.weight.dims()[1];
        let logits =
            pooled.reshape([b * c, w]).matmul(self.weight.val()) + self.bias.val().unsqueeze();
        match self.pooling {
            Pooling::PerChoiceScore => logits.reshape([b, c]),
            Pooling::Single | Pooling::SumOrderings => logits.reshape([b, c * outputs]),
        }
    }
}

/// Dropout on [batch, choices, width] with one mask per example, broadcast over its choices.
fn shared_dropout(x: Tensor<3>, p: f64, train: bool) -> Tensor<3> {
    if !train || p == 0.0 {
        return x;
    }
    let [batch, choices, width] = x.dims();
    let values = crate::rng::dropout::mask(batch * width, p);
    let keep = Tensor::<3>::from_data(
        burn::tensor::TensorData::new(values, [batch, 1, width]),
        &x.device(),
    )
    .expand([batch, choices, width]);
    x * keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostValues;
    use burn::tensor::TensorData;

    fn device() -> Device {
        crate::device::device("flex").unwrap()
    }

    fn head(pooling: Pooling, outputs: usize) -> ClassifierHead {
        // Weight rows [1, 10] per output so results are easy to compute by hand.
        let d = device();
        let mut h = ClassifierHead::new(2, outputs, pooling, 0.5, &d);
        let n = h.weight.dims()[1];
        let w: Vec<f32> = (0..2 * n).map(|i| if i < n { 1.0 } else { 10.0 }).collect();
        h.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [2, n]), &d));
        h
    }

    /// hidden states for 2 sequences of 3 tokens, width 2: value = 100·seq + 10·t + feature.
    fn hidden(seqs: usize) -> Tensor<3> {
        let v: Vec<f32> = (0..seqs * 3 * 2)
            .map(|i| (100 * (i / 6) + 10 * ((i / 2) % 3) + i % 2) as f32)
            .collect();
        Tensor::from_data(TensorData::new(v, [seqs, 3, 2]), &device())
    }

    fn at(positions: Vec<i64>, shape: [usize; 2]) -> Tensor<2, Int> {
        Tensor::from_data(TensorData::new(positions, shape), &device())
    }

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.host_values()
    }

    #[test]
    fn pools_at_the_classify_token() {
        // Sequence 0 classifies at t=2: h = [20, 21] → 20·1 + 21·10 = 230.
        // Sequence 1 at t=1: h = [110, 111] → 1220.
        let logits = head(Pooling::Single, 1).forward(hidden(2), at(vec![2, 1], [2, 1]), false);
        assert_eq!(values(logits), vec![230.0, 1220.0]);
    }

    #[test]
    fn similarity_sums_the_two_orderings() {
        // One example, orderings at t=2 and t=1: [20, 21] + [110, 111] = [130, 132] → 1450.
        let logits =
            head(Pooling::SumOrderings, 1).forward(hidden(2), at(vec![2, 1], [1, 2]), false);
        assert_eq!(values(logits), vec![1450.0]);
    }

    #[test]
    fn multiple_choice_scores_each_answer() {
        let logits =
            head(Pooling::PerChoiceScore, 4).forward(hidden(2), at(vec![0, 2], [1, 2]), false);
        // [0, 1] → 10; [120, 121] → 1330.
        assert_eq!(values(logits), vec![10.0, 1330.0]);
    }

    #[test]
    fn dropout_mask_is_shared_across_choices() {
        let d = device();
        crate::rng::dropout::reseed(3);
        let ones = Tensor::<3>::ones([4, 3, 64], &d);
        let dropped = shared_dropout(ones, 0.5, true).host_values();
        let mut zeros = 0;
        for example in dropped.chunks(3 * 64) {
            let (first, rest) = example.split_at(64);
            assert!(
                rest.chunks(64).all(|c| c == first),
                "choices of one example share the mask"
            );
            zeros += first.iter().filter(|&&v| v == 0.0).count();
        }
        assert!(
            (40..216).contains(&zeros),
            "about half dropped: {zeros} of 256"
        );
    }
}
