//! A fine-tuning run's terms: the settings (paper, section 4.1 "Fine-tuning details"), how its
//! dev set is scored, what goes beside each saved model, and what the run gives back.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use burn::tensor::Device;

use super::examples::{EncodedExample, Prediction};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneConfig {
    pub lr: f64,
    /// Examples per update.
    pub batch_size: usize,
    /// Examples per forward pass (gradients are accumulated up to batch_size).
    pub micro_batch: usize,
    pub epochs: usize,
    /// Warmup as a fraction of all updates (paper: 0.2%).
    pub warmup: f64,
    /// λ, the weight of the auxiliary LM loss (0 disables it).
    pub lm_coef: f64,
    pub clf_dropout: f64,
    pub l2: f64,
    pub max_grad_norm: f64,
    pub seed: u64,
    /// Write the first this many updates, the initial model and the encoded splits under
    /// `OUT/trace/` for `scripts/finetune_parity.py` (0: no trace).
    pub trace_updates: usize,
    /// Whose fine-tuning to follow where they differ: Hugging Face's port (default) or the
    /// official release ([`super::fidelity`]).
    pub fidelity: super::Fidelity,
    /// fp32, or bf16: the linear layers' and the LM head's products in bf16 with fp32 sums
    /// (flex on a CPU with AVX512-BF16), as in pre-training ([`crate::precision`]).
    pub precision: crate::precision::Precision,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            lr: 6.25e-5,
            batch_size: 32,
            micro_batch: 8,
            epochs: 3,
            warmup: 0.002,
            lm_coef: 0.5,
            clf_dropout: 0.1,
            l2: 0.01,
            max_grad_norm: 1.0,
            seed: 0,
            trace_updates: 0,
            fidelity: super::Fidelity::Hf,
            precision: crate::precision::Precision::Fp32,
        }
    }
}

impl FinetuneConfig {
    /// Defaults for fine-tuning a pre-trained model of this shape. For the paper's size (width
    /// 768 and up) the paper's values (lr 6.25e-5, batches of 32, 3 epochs, warmup 0.2%, λ 0.5).
    /// Smaller models take a larger step and a longer warmup (lr 5e-4, batches of 16, warmup 5%):
    /// measured on the demo's 3-layer, 128-wide model, where the paper's lr leaves a pre-trained
    /// model near its starting point within the update budget (docs/evidence.md, "Fine-tuning
    /// settings on the new demo").
    pub fn for_model(config: &crate::GptConfig) -> Self {
        if config.n_embd >= 768 {
            Self::default()
        } else {
            Self {
                lr: 5e-4,
                batch_size: 16,
                warmup: 0.05,
                ..Self::default()
            }
        }
    }

    /// These settings with the ones given replacing them (`dropout`: the classifier's).
    pub fn with_overrides(
        self,
        lr: Option<f64>,
        batch_size: Option<usize>,
        warmup: Option<f64>,
        dropout: Option<f64>,
    ) -> Self {
        Self {
            lr: lr.unwrap_or(self.lr),
            batch_size: batch_size.unwrap_or(self.batch_size),
            warmup: warmup.unwrap_or(self.warmup),
            clf_dropout: dropout.unwrap_or(self.clf_dropout),
            ..self
        }
    }
}

/// What a fine-tuning run is given besides the model: the examples, the settings, how the dev
/// set is scored, what goes beside each saved model, where the run writes, and the device.
pub struct FinetuneJob<'a> {
    pub train: &'a [EncodedExample],
    pub dev: &'a [EncodedExample],
    pub config: &'a FinetuneConfig,
    pub evaluate: &'a Evaluate<'a>,
    pub attach: &'a Attach<'a>,
    pub out: &'a Path,
    pub device: &'a Device,
}

/// How an epoch's dev predictions score: (the number to maximise, every metric as JSON).
pub type Evaluate<'a> = dyn Fn(&[Prediction]) -> (f64, serde_json::Value) + 'a;

/// What a caller writes beside the weights of every saved model directory (the task description
/// and the tokenizer, so that the directory is all `eval`, `predict` and `serve` need).
pub type Attach<'a> = dyn Fn(&Path) -> anyhow::Result<()> + 'a;

pub struct FinetuneOutcome {
    pub best_score: f64,
    pub best_epoch: usize,
    pub best_dir: PathBuf,
    pub history: Vec<serde_json::Value>,
    /// The commit of each segment of the run ([`crate::BUILD_COMMIT`]): one, or one more per
    /// `--resume`.
    pub commits: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_model_size() {
        // The paper's values for GPT-1 itself (section 4.1).
        let paper = FinetuneConfig::for_model(&crate::GptConfig::gpt1());
        assert_eq!(
            (
                paper.lr,
                paper.batch_size,
                paper.epochs,
                paper.warmup,
                paper.lm_coef
            ),
            (6.25e-5, 32, 3, 0.002, 0.5)
        );
        let small = FinetuneConfig::for_model(&crate::GptConfig::preset("tiny").unwrap());
        assert_eq!(
            (small.lr, small.batch_size, small.warmup, small.lm_coef),
            (5e-4, 16, 0.05, 0.5)
        );
    }
}
