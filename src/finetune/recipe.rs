//! The one place the `--fidelity` flag is read: a [`Recipe`] of the training graph, the loop's
//! [`LoopPolicy`] and the context rule. It sits above the model and the release's graph (which
//! it chooses between) and below the step and the loop (which use it); the flag itself and the
//! loop policies live in `fidelity.rs`, at the bottom, so that the settings can name them.

use burn::tensor::Tensor;

use super::batch::Batch;
use super::classifier::Classifier;
use super::fidelity::{Fidelity, LoopPolicy};

/// The training forward pass of a fidelity's graph for one padded batch: the head's outputs
/// [batch, outputs] and, when asked for, the auxiliary LM loss L1.
pub type TrainingForward = fn(&Classifier, Batch, bool) -> (Tensor<2>, Option<Tensor<1>>);

/// Everything the fidelity decides, chosen in one place.
#[derive(Debug, Clone, Copy)]
pub struct Recipe {
    pub forward: TrainingForward,
    pub policy: LoopPolicy,
    /// The context is the dataset's longest encoded example, the position rows sliced to it
    /// ([`super::release::dataset_n_ctx`]), instead of the model's `n_positions`.
    pub dataset_context: bool,
}

impl Fidelity {
    pub fn recipe(self) -> Recipe {
        match self {
            Self::Hf => Recipe {
                forward: Classifier::training_forward,
                policy: LoopPolicy::HF,
                dataset_context: false,
            },
            // The release's graph: dropout on the embedding matrix `we`, whose every row the
            // LM head then covers.
            Self::Release => Recipe {
                forward: super::release::training_forward,
                policy: LoopPolicy::RELEASE,
                dataset_context: true,
            },
        }
    }
}
