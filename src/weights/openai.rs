//! The official release's weights (openai/finetune-transformer-lm, `model/`): one flat float32
//! array spread over `params_0.npy` … `params_9.npy` and cut into tensors by
//! `params_shapes.json`.
//!
//! Order: positions `[n_ctx, d]`, tokens `[n_vocab, d]`, then per layer c_attn w `[1, d, 3d]`, b,
//! c_proj w `[1, d, d]`, b, ln_1 g, b, c_fc w `[1, d, 4d]`, b, c_proj w `[1, 4d, d]`, b, ln_2 g,
//! b. Conv weights carry a leading kernel-width axis of 1, dropped here. The shapes do not say
//! how many heads there are; the caller does.

use std::path::Path;

use burn::tensor::Device;

use super::{named, npy, HostTensor, NamedTensors, WeightsError};
use crate::{config::GptConfig, Gpt};

pub const SHAPES_FILE: &str = "params_shapes.json";
const PER_LAYER: [&str; 12] = [
    "attn.c_attn.weight",
    "attn.c_attn.bias",
    "attn.c_proj.weight",
    "attn.c_proj.bias",
    "ln_1.weight",
    "ln_1.bias",
    "mlp.c_fc.weight",
    "mlp.c_fc.bias",
    "mlp.c_proj.weight",
    "mlp.c_proj.bias",
    "ln_2.weight",
    "ln_2.bias",
];
/// The release's number of files; reading accepts any count.
const FILES: usize = 10;

fn param_file(dir: &Path, i: usize) -> std::path::PathBuf {
    dir.join(format!("params_{i}.npy"))
}

/// Our names, in the release's order, for a model with `n_layer` blocks.
fn names(n_layer: usize) -> Vec<String> {
    let mut names = vec!["positions_embed".to_string(), "tokens_embed".to_string()];
    for layer in 0..n_layer {
        names.extend(PER_LAYER.iter().map(|p| format!("h.{layer}.{p}")));
    }
    names
}

fn read_shapes(dir: &Path) -> Result<Vec<Vec<usize>>, WeightsError> {
    let path = dir.join(SHAPES_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| WeightsError::io(&path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| WeightsError::format(&path, format!("expected a JSON list of shapes: {e}")))
}

/// The model shape that the release's tensor shapes imply.
fn config_from_shapes(
    shapes: &[Vec<usize>],
    n_head: usize,
    path: &Path,
) -> Result<GptConfig, WeightsError> {
    let bad = |m: String| WeightsError::format(path, m);
    if shapes.len() < 2 || !(shapes.len() - 2).is_multiple_of(PER_LAYER.len()) {
        return Err(bad(format!(
            "{} shapes: expected 2 embeddings plus 12 per layer",
            shapes.len()
        )));
    }
    let (positions, tokens) = (&shapes[0], &shapes[1]);
    if positions.len() != 2 || tokens.len() != 2 || positions[1] != tokens[1] {
        return Err(bad(format!(
            "the first two shapes must be [n_ctx, d] and [n_vocab, d], found {positions:?} and {tokens:?}"
        )));
    }
    let n_layer = (shapes.len() - 2) / PER_LAYER.len();
    let ffn = shapes
        .get(8)
        .and_then(|s| s.last().copied())
        .unwrap_or(4 * tokens[1]);
    let config = GptConfig {
        vocab_size: tokens[0],
        n_special: 0,
        n_positions: positions[0],
        n_embd: tokens[1],
        n_layer,
        n_head,
        n_inner: (ffn != 4 * tokens[1]).then_some(ffn),
        ..GptConfig::gpt1()
    };
    config.validate().map_err(bad)?;
    Ok(config)
}

/// Loads the release's weights from `dir`.
pub fn load(dir: &Path, n_head: usize, device: &Device) -> Result<Gpt, WeightsError> {
    let shapes = read_shapes(dir)?;
    let shapes_path = dir.join(SHAPES_FILE);
    let config = config_from_shapes(&shapes, n_head, &shapes_path)?;

    // Concatenate params_0.npy, params_1.npy ... for as long as they exist.
    let mut flat = Vec::new();
    let mut i = 0;
    while param_file(dir, i).exists() {
        let part = npy::read(&param_file(dir, i))?;
        flat.extend_from_slice(&part.values);
        i += 1;
    }
    if i == 0 {
        return Err(WeightsError::format(
            param_file(dir, 0),
            "missing (no params_*.npy files)",
        ));
    }
    let needed: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    if flat.len() != needed {
        return Err(WeightsError::format(
            dir,
            format!(
                "params_0..{}.npy hold {} values but {SHAPES_FILE} describes {needed}",
                i - 1,
                flat.len()
            ),
        ));
    }

    let mut tensors = NamedTensors::new();
    let mut offset = 0;
    for (name, shape) in names(config.n_layer).into_iter().zip(&shapes) {
        let count: usize = shape.iter().product();
        let values = flat[offset..offset + count].to_vec();
        offset += count;
        // Conv weights are [1, in, out]: drop the kernel-width axis.
        let shape = match shape.as_slice() {
            [1, n_in, n_out] => vec![*n_in, *n_out],
            other => other.to_vec(),
        };
        tensors.insert(name, HostTensor::new(shape, values));
    }
    named::import(&config, tensors, device)
        .map_err(|e| WeightsError::format(&shapes_path, e.to_string()))
}

/// Writes `model` in the release's layout: params_shapes.json and ten params_*.npy files.
/// Special-token rows have no place in that layout and are left out (the release appends them
/// at fine-tuning time). GPT-2 models are refused: the layout is GPT-1's, with no `ln_f`, and
/// its reader would compute the weights as post-LN.
pub fn save(model: &Gpt, dir: &Path) -> Result<(), WeightsError> {
    if model.config().arch != crate::config::Arch::Gpt1 {
        return Err(WeightsError::format(
            dir,
            "the official release's layout holds GPT-1 models only; save GPT-2 as Hugging Face",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| WeightsError::io(dir, e))?;
    let config = model.config();
    let tensors = named::export(model);
    let mut shapes = Vec::new();
    let mut flat = Vec::new();
    for name in names(config.n_layer) {
        let t = &tensors[&name];
        let mut values: &[f32] = &t.values;
        let shape = match (name.as_str(), t.shape.as_slice()) {
            ("tokens_embed", [_, d]) => {
                values = &values[..config.vocab_size * d];
                vec![config.vocab_size, *d]
            }
            (_, [n_in, n_out]) if name.ends_with(".weight") && !name.contains(".ln_") => {
                vec![1, *n_in, *n_out]
            }
            (_, other) => other.to_vec(),
        };
        shapes.push(shape);
        flat.extend_from_slice(values);
    }
    let shapes_json = serde_json::to_string(&shapes).expect("json");
    crate::files::write_atomic(&dir.join(SHAPES_FILE), shapes_json.as_bytes())?;
    // np.array_split into FILES nearly equal parts, as the release's files are cut.
    let (base, extra) = (flat.len() / FILES, flat.len() % FILES);
    let mut start = 0;
    for i in 0..FILES {
        let len = base + usize::from(i < extra);
        let part = HostTensor::new(vec![len], flat[start..start + len].to_vec());
        crate::files::write_atomic(&param_file(dir, i), &npy::encode(&part))?;
        start += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt1_shapes_give_gpt1() {
        let mut shapes = vec![vec![512, 768], vec![40478, 768]];
        for _ in 0..12 {
            shapes.extend([
                vec![1, 768, 2304],
                vec![2304],
                vec![1, 768, 768],
                vec![768],
                vec![768],
                vec![768],
                vec![1, 768, 3072],
                vec![3072],
                vec![1, 3072, 768],
                vec![768],
                vec![768],
                vec![768],
            ]);
        }
        let config = config_from_shapes(&shapes, 12, Path::new("x")).unwrap();
        assert_eq!(config, GptConfig::gpt1());
    }

    #[test]
    fn the_shared_shapes_file_gives_gpt1() {
        let Some(dir) = crate::shared_dir().map(|d| d.join("data/gpt1-bpe")) else {
            eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
            return;
        };
        let shapes = read_shapes(&dir).unwrap();
        assert_eq!(shapes.len(), 146);
        let config = config_from_shapes(&shapes, 12, &dir).unwrap();
        assert_eq!(config, GptConfig::gpt1());
    }
}
