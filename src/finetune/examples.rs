//! What fine-tuning works on and produces, example by example: encoded examples, their
//! targets, and the model's predictions.

use serde::Serialize;

/// One example after the input transformation: one token sequence per choice (or ordering),
/// the classify token's position in each, and the target.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedExample {
    pub sequences: Vec<Vec<u32>>,
    pub classify_at: Vec<usize>,
    pub target: Option<Target>,
}

/// A gold label: a class (or the right answer's index) or a score. The task crate's label type,
/// so loaders' labels need no conversion.
pub use genpt_tasks::Label as Target;

/// What the model outputs for one example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Prediction {
    /// Class (or answer) index and the softmax probabilities.
    Class {
        index: usize,
        probabilities: Vec<f32>,
    },
    Score(f32),
}
