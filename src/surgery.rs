//! Model surgery: new models made from a model's weights. The fine-tuning set-up uses them (the
//! special-token rows of the input transformations, transferring n layers, the dropout of a
//! run, the release's context slicing), and so does continued pre-training. Each exports the
//! weights as named tensors, edits them and imports them again, so this module sits above both
//! `model` and `weights` (which loads into a model): no layer imports from one above it.

use burn::tensor::Device;

use crate::rng::Draws;
use crate::weights::{self, HostTensor};
use crate::{Gpt, GptConfig};

/// Standard normal draws from a counter-based stream (Box–Muller), so that new rows do not
/// depend on the order anything else used the device RNG in.
pub fn normal_values(n: usize, std: f64, draws: &mut Draws) -> Vec<f32> {
    let uniform = |d: &mut Draws| ((d.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (0..n)
        .map(|_| {
            let (u1, u2) = (uniform(draws), uniform(draws));
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * std) as f32
        })
        .collect()
}

/// Appends `n_new` special-token rows, N(0, initializer_range), after the existing rows, as the
/// release does when it adds `_start_`, `_delimiter_` and `_classify_`.
pub fn add_special_rows(gpt: Gpt, n_new: usize, seed: u64, device: &Device) -> Gpt {
    let config = gpt.config().clone();
    let mut tensors = weights::export(&gpt);
    let embed = tensors
        .remove("tokens_embed")
        .expect("every model has tokens_embed");
    let mut values = embed.values;
    values.extend(normal_values(
        n_new * config.n_embd,
        config.initializer_range,
        &mut Draws::new(seed, 0x5bec),
    ));
    let new_config = GptConfig {
        n_special: config.n_special + n_new,
        ..config
    };
    tensors.insert(
        "tokens_embed".into(),
        HostTensor::new(vec![new_config.embedding_rows(), new_config.n_embd], values),
    );
    weights::import(&new_config, tensors, device).expect("shapes follow from the config")
}

/// Keeps the embeddings and the first `n` blocks of `pretrained` and re-initialises the rest
/// (paper, Figure 2 left: transferring a variable number of layers).
pub fn transfer_layers(pretrained: Gpt, n: usize, device: &Device) -> Gpt {
    let config = pretrained.config().clone();
    let fresh = weights::export(&Gpt::new(&config, device));
    let mut tensors = weights::export(&pretrained);
    for (name, tensor) in fresh {
        let layer = name
            .strip_prefix("h.")
            .and_then(|r| r.split('.').next())
            .and_then(|i| i.parse::<usize>().ok());
        if layer.is_some_and(|l| l >= n) {
            tensors.insert(name, tensor);
        }
    }
    weights::import(&config, tensors, device).expect("same config")
}

/// The same weights with every dropout of the transformer (embedding, attention, residual) set to
/// `p`; 0 makes training deterministic, as the parity checks need.
pub fn with_dropout(gpt: Gpt, p: f64, device: &Device) -> Gpt {
    let config = GptConfig {
        embd_pdrop: p,
        attn_pdrop: p,
        resid_pdrop: p,
        ..gpt.config().clone()
    };
    weights::import(&config, weights::export(&gpt), device).expect("same shapes")
}

/// The same model with its position rows sliced to the first `n_ctx` (the release's
/// `init_params[0][:n_ctx]`): `we` then has exactly n_vocab + n_special + n_ctx rows.
pub fn slice_positions(gpt: Gpt, n_ctx: usize, device: &Device) -> Gpt {
    let config = GptConfig {
        n_positions: n_ctx,
        ..gpt.config().clone()
    };
    let mut tensors = weights::export(&gpt);
    let positions = tensors
        .get_mut("positions_embed")
        .expect("every model has positions_embed");
    assert!(
        positions.shape[0] >= n_ctx,
        "n_ctx exceeds the model's context"
    );
    positions.values.truncate(n_ctx * config.n_embd);
    positions.shape[0] = n_ctx;
    weights::import(&config, tensors, device).expect("shapes follow from the config")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_rows_are_appended_and_old_rows_kept() {
        let device = crate::device::device("flex").unwrap();
        let config = GptConfig {
            vocab_size: 20,
            n_positions: 8,
            n_embd: 16,
            n_layer: 1,
            n_head: 2,
            ..GptConfig::gpt1()
        };
        let gpt = Gpt::new(&config, &device);
        let before = weights::export(&gpt)["tokens_embed"].values.clone();
        let extended = add_special_rows(gpt, 3, 1, &device);
        assert_eq!(extended.config().n_special, 3);
        let after = &weights::export(&extended)["tokens_embed"].values;
        assert_eq!(&after[..before.len()], &before[..]);
        let new = &after[before.len()..];
        assert_eq!(new.len(), 3 * 16);
        let std = (new.iter().map(|v| v * v).sum::<f32>() / new.len() as f32).sqrt();
        assert!(
            (0.01..0.04).contains(&std),
            "rows drawn with std 0.02, got {std}"
        );
        // The LM head still covers the real tokens only.
        assert_eq!(extended.config().vocab_size, 20);
    }

    #[test]
    fn transfer_keeps_the_first_layers_only() {
        let device = crate::device::device("flex").unwrap();
        let config = GptConfig {
            vocab_size: 20,
            n_positions: 8,
            n_embd: 16,
            n_layer: 3,
            n_head: 2,
            ..GptConfig::gpt1()
        };
        let pretrained = Gpt::new(&config, &device);
        let want = weights::export(&pretrained);
        let got = weights::export(&transfer_layers(pretrained, 1, &device));
        assert_eq!(got["tokens_embed"], want["tokens_embed"]);
        assert_eq!(
            got["h.0.attn.c_attn.weight"],
            want["h.0.attn.c_attn.weight"]
        );
        assert_ne!(
            got["h.1.attn.c_attn.weight"],
            want["h.1.attn.c_attn.weight"]
        );
        assert_ne!(got["h.2.mlp.c_fc.weight"], want["h.2.mlp.c_fc.weight"]);
    }
}
