//! From a decoder to a classifier ready to fine-tune (paper, section 3.3): the start, delimiter
//! and extract tokens become new embedding rows, the head `W_y` is added, and under
//! `--fidelity release` the position rows are cut to the dataset's context. `genpt finetune`
//! and `genpt demo` both build their models here; only where the data and the settings come
//! from differs between them.

use std::path::Path;

use burn::tensor::Device;
use genpt_tasks::TaskKind;

use super::classifier::{new_classifier, Classifier};
use super::fidelity::Fidelity;
use super::release::dataset_n_ctx;
use super::task_bridge::{head_shape, SPECIAL_NAMES};
use super::EncodedExample;
use crate::surgery::{add_special_rows, slice_positions, transfer_layers, with_dropout};
use crate::{Gpt, GptConfig};

/// Where the decoder's weights come from.
#[derive(Debug, Clone)]
pub enum Start<'a> {
    /// A pre-trained model directory (any layout `weights::load_model` reads); with
    /// `transfer_layers`, only its first n blocks are kept (Figure 2, left).
    Pretrained {
        model: &'a Path,
        transfer_layers: Option<usize>,
    },
    /// Fresh weights of this shape, drawn from the device's current seed (the baseline).
    Random(GptConfig),
}

/// The decoder for fine-tuning: loaded or initialised, with the special rows appended (seeded
/// by `seed`) unless it already has them (a fine-tuned starting point), and with every dropout
/// rate set to `dropout` when given.
pub fn decoder(
    start: &Start,
    seed: u64,
    dropout: Option<f64>,
    device: &Device,
) -> anyhow::Result<Gpt> {
    let gpt = match start {
        Start::Pretrained {
            model,
            transfer_layers: keep,
        } => {
            let loaded = crate::weights::load_model(model, &Default::default(), device)?;
            match keep {
                Some(n) => transfer_layers(loaded, *n, device),
                None => loaded,
            }
        }
        Start::Random(config) => Gpt::new(config, device),
    };
    let gpt = if gpt.config().n_special >= SPECIAL_NAMES.len() {
        gpt
    } else {
        add_special_rows(gpt, SPECIAL_NAMES.len(), seed, device)
    };
    match dropout {
        Some(p) => {
            anyhow::ensure!(
                (0.0..1.0).contains(&p),
                "dropout must be in [0, 1), got {p}"
            );
            Ok(with_dropout(gpt, p, device))
        }
        None => Ok(gpt),
    }
}

/// `gpt` with the head for `kind` (classifier dropout `clf_dropout`). When the fidelity takes
/// its context from the dataset (the release), the position rows are first cut to the longest
/// encoded example of `splits` (every split the release reads: train, dev and test).
pub fn classifier(
    gpt: Gpt,
    kind: &TaskKind,
    clf_dropout: f64,
    fidelity: Fidelity,
    splits: &[&[EncodedExample]],
    device: &Device,
) -> Classifier {
    let gpt = if fidelity.recipe().dataset_context {
        let n_ctx = dataset_n_ctx(splits, gpt.config().n_positions);
        eprintln!("release fidelity: n_ctx {n_ctx} (the longest encoded example)");
        slice_positions(gpt, n_ctx, device)
    } else {
        gpt
    };
    let (pooling, outputs) = head_shape(kind);
    new_classifier(gpt, pooling, outputs, clf_dropout, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> GptConfig {
        let mut config = GptConfig::preset("tiny").unwrap();
        config.vocab_size = 40;
        config.n_positions = 16;
        config
    }

    #[test]
    fn a_random_decoder_gets_the_special_rows_once_and_the_dropout_asked_for() {
        let device = crate::device::device("flex").unwrap();
        let start = Start::Random(tiny());
        let gpt = decoder(&start, 1, Some(0.0), &device).unwrap();
        assert_eq!(gpt.config().n_special, SPECIAL_NAMES.len());
        assert_eq!(gpt.tokens_embed.val().dims()[0], 40 + SPECIAL_NAMES.len());
        assert_eq!(gpt.config().resid_pdrop, 0.0);
        assert!(decoder(&start, 1, Some(1.0), &device).is_err());
    }

    #[test]
    fn release_fidelity_cuts_the_context_to_the_longest_example() {
        let device = crate::device::device("flex").unwrap();
        let example = |n: usize| EncodedExample {
            sequences: vec![vec![1; n]],
            classify_at: vec![n - 1],
            target: None,
        };
        let (short, long) = ([example(3)], [example(7)]);
        let splits: [&[EncodedExample]; 2] = [&short, &long];
        let kind = TaskKind::Classification { n_classes: 2 };
        for (fidelity, want) in [(Fidelity::Release, 7), (Fidelity::Hf, 16)] {
            let gpt = decoder(&Start::Random(tiny()), 1, None, &device).unwrap();
            let model = classifier(gpt, &kind, 0.1, fidelity, &splits, &device);
            assert_eq!(model.gpt.config().n_positions, want, "{fidelity}");
        }
    }
}
