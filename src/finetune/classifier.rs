//! The fine-tuning model: the pre-trained transformer, extended with the special tokens of the
//! input transformations, plus the linear head.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};

use super::batch::Batch;
use super::head::{ClassifierHead, Pooling};
use super::objective::lm_aux_loss;
use crate::Gpt;

#[derive(Module, Debug)]
pub struct Classifier {
    pub gpt: Gpt,
    pub head: ClassifierHead,
}

/// What a forward pass gives: the head's outputs and the hidden states for the auxiliary loss.
pub struct ClassifierOutput {
    /// [batch, classes] (or [batch, choices] for multiple choice).
    pub logits: Tensor<2>,
    /// The transformer's final hidden states [batch·choices, time, width], for the auxiliary LM
    /// loss, when asked for.
    pub lm_hidden: Option<Tensor<3>>,
}

impl Classifier {
    /// `ids`: [batch, choices, time]; `classify_at`: [batch, choices]. The hidden states are
    /// returned for the auxiliary loss only `with_lm`: its vocabulary-wide output layer is most
    /// of a small model's work, and without the auxiliary loss nothing computes it.
    pub fn forward(
        &self,
        ids: Tensor<3, Int>,
        classify_at: Tensor<2, Int>,
        train: bool,
        with_lm: bool,
    ) -> ClassifierOutput {
        let [batch, choices, time] = ids.dims();
        let hidden = self
            .gpt
            .forward(ids.reshape([batch * choices, time]), train)
            .hidden;
        let logits = self.head.forward(hidden.clone(), classify_at, train);
        ClassifierOutput {
            logits,
            lm_hidden: with_lm.then_some(hidden),
        }
    }
}

impl Classifier {
    /// Hugging Face's training graph ([`super::Fidelity::Hf`]): the head's outputs, and L1 over
    /// the real text tokens when `with_lm`.
    pub fn training_forward(&self, batch: Batch, with_lm: bool) -> (Tensor<2>, Option<Tensor<1>>) {
        let ClassifierOutput { logits, lm_hidden } =
            self.forward(batch.ids, batch.classify_at, true, with_lm);
        let lm = lm_hidden.map(|h| lm_aux_loss(&self.gpt, h, batch.ids_flat, batch.mask));
        (logits, lm)
    }
}

/// A head for `pooling` with `n_outputs` outputs over `gpt`.
pub fn new_classifier(
    gpt: Gpt,
    pooling: Pooling,
    n_outputs: usize,
    dropout: f64,
    device: &Device,
) -> Classifier {
    let head = ClassifierHead::new(gpt.config().n_embd, n_outputs, pooling, dropout, device);
    Classifier { gpt, head }
}
