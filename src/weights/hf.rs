//! Hugging Face `openai-gpt` and `gpt2` directories: `config.json` + `model.safetensors`.
//!
//! Names are those of `OpenAIGPTModel` (`tokens_embed.weight`, `h.0.attn.c_attn.weight` ...)
//! or `GPT2Model` (`wte.weight`, `wpe.weight`, the same `h.{i}` names, `ln_f`), optionally
//! behind a `transformer.` prefix (as the `*LMHeadModel` classes save them). Conv1D weights are
//! stored input × output in both, the layout the model keeps in memory, so no transposes.
//! `lm_head.weight` is tied to the token embedding and is neither needed nor written. GPT-2
//! checkpoints may also carry each layer's causal-mask buffers (`h.{i}.attn.bias`,
//! `h.{i}.attn.masked_bias`): constants, not parameters, so they are skipped.

use std::path::Path;

use burn::tensor::Device;
use safetensors::{Dtype, SafeTensors};

use super::{named, HostTensor, NamedTensors, WeightsError};
use crate::config::{Arch, GptConfig};
use crate::Gpt;

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// The checkpoint's name for one of our parameter paths. Only the embeddings differ: they are
/// bare parameters here and `nn.Embedding`s (hence `.weight`) there, named `tokens_embed` /
/// `positions_embed` by GPT-1 and `wte` / `wpe` by GPT-2.
fn to_hf_name(arch: Arch, name: &str) -> String {
    match (arch, name) {
        (Arch::Gpt1, "tokens_embed" | "positions_embed") => format!("{name}.weight"),
        (Arch::Gpt2, "tokens_embed") => "wte.weight".into(),
        (Arch::Gpt2, "positions_embed") => "wpe.weight".into(),
        (_, other) => other.to_string(),
    }
}

/// Our parameter path for a checkpoint name, or `None` for tensors that are not parameters of
/// ours (the tied LM head, GPT-2's mask buffers).
fn from_hf_name(arch: Arch, name: &str) -> Option<String> {
    let name = name.strip_prefix("transformer.").unwrap_or(name);
    if name == "lm_head.weight" {
        return None; // tied to tokens_embed
    }
    match (arch, name) {
        (Arch::Gpt1, "tokens_embed.weight" | "positions_embed.weight") => {
            Some(name.trim_end_matches(".weight").to_string())
        }
        (Arch::Gpt2, "wte.weight") => Some("tokens_embed".into()),
        (Arch::Gpt2, "wpe.weight") => Some("positions_embed".into()),
        (Arch::Gpt2, _) if is_mask_buffer(name) => None,
        (_, other) => Some(other.to_string()),
    }
}

/// `h.{i}.attn.bias` (the causal mask) and `h.{i}.attn.masked_bias` (the masked score), which
/// older `transformers` versions saved with the weights.
fn is_mask_buffer(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    matches!(
        parts.as_slice(),
        ["h", i, "attn", "bias" | "masked_bias"] if i.parse::<usize>().is_ok()
    )
}

pub fn read_config(dir: &Path) -> Result<GptConfig, WeightsError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| WeightsError::io(&path, e))?;
    GptConfig::from_hf_json(&text).map_err(|m| WeightsError::format(&path, m))
}

/// Reads the tensors of a safetensors file, converting f16/bf16/f64 to f32.
pub fn read_safetensors(path: &Path) -> Result<NamedTensors, WeightsError> {
    let mut out = NamedTensors::new();
    for_each_tensor(path, |name, tensor| {
        out.insert(name, tensor);
        Ok(())
    })?;
    Ok(out)
}

/// Hands each tensor of a safetensors file to `take`, one at a time, as f32 (from f16, bf16 or
/// f64 too): a caller that converts each into something smaller never holds them all.
pub fn for_each_tensor(
    path: &Path,
    mut take: impl FnMut(String, HostTensor) -> Result<(), WeightsError>,
) -> Result<(), WeightsError> {
    let file = std::fs::File::open(path).map_err(|e| WeightsError::io(path, e))?;
    // SAFETY: the file is opened read-only and not modified while the map is alive.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| WeightsError::io(path, e))?;
    let tensors = SafeTensors::deserialize(&map)
        .map_err(|e| WeightsError::format(path, format!("not a valid safetensors file: {e}")))?;
    for (name, view) in tensors.tensors() {
        let bytes = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            Dtype::F64 => bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
                .collect(),
            other => {
                return Err(WeightsError::format(
                    path,
                    format!("tensor {name}: dtype {other:?} is not a float type"),
                ))
            }
        };
        take(name, HostTensor::new(view.shape().to_vec(), values))?;
    }
    Ok(())
}

/// IEEE half to single precision.
fn half_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise the fraction.
            let shift = frac.leading_zeros() - 21;
            sign | ((127 - 15 + 1 - shift) << 23) | ((frac << shift) & 0x3ff) << 13
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// Loads `dir/config.json` + `dir/model.safetensors`.
pub fn load(dir: &Path, device: &Device) -> Result<Gpt, WeightsError> {
    let config = read_config(dir)?;
    let path = dir.join(WEIGHTS_FILE);
    let mut tensors = NamedTensors::new();
    for (name, tensor) in read_safetensors(&path)? {
        if let Some(ours) = from_hf_name(config.arch, &name) {
            if tensors.insert(ours.clone(), tensor).is_some() {
                return Err(duplicate(&path, &ours));
            }
        }
    }
    named::import(&config, tensors, device).map_err(|e| in_file(&path, e))
}

/// [`load`] for bf16 inference: each linear layer's weight is rounded to bf16 and packed as it
/// is read ([`crate::Gpt::into_bf16_weights`]'s layout), so its fp32 values are never all held
/// at once; the embeddings, LayerNorms and biases load as fp32. The model keeps only the packed
/// weights. Every tensor gets [`load`]'s checks. Needs [`crate::kernels::bf16_weights_on`] for
/// `device`.
pub fn load_bf16(dir: &Path, device: &Device) -> Result<Gpt, WeightsError> {
    let config = read_config(dir)?;
    let path = dir.join(WEIGHTS_FILE);
    let linear: std::collections::BTreeMap<String, Vec<usize>> = named::expected_shapes(&config)
        .into_iter()
        .filter(|(name, _)| Gpt::is_linear_weight(name))
        .collect();
    let mut tensors = NamedTensors::new();
    let mut packed = std::collections::BTreeMap::new();
    for_each_tensor(&path, |name, tensor| {
        let Some(ours) = from_hf_name(config.arch, &name) else {
            return Ok(());
        };
        if tensors.contains_key(&ours) || packed.contains_key(&ours) {
            return Err(duplicate(&path, &ours));
        }
        match linear.get(&ours) {
            Some(shape) => {
                named::check(&ours, shape, &tensor).map_err(|e| in_file(&path, e))?;
                let [rows, cols] = shape[..] else {
                    unreachable!("a linear layer's weight is a matrix")
                };
                let bf16 = crate::model::pack_host_bf16(&tensor.values, rows, cols, false);
                packed.insert(ours, bf16);
            }
            None => {
                tensors.insert(ours, tensor);
            }
        }
        Ok(())
    })?;
    if let Some(name) = linear.keys().find(|name| !packed.contains_key(*name)) {
        let name = name.clone();
        return Err(in_file(&path, WeightsError::Missing { name }));
    }
    let released = packed.keys().cloned().collect();
    let model = named::import_released(&config, tensors, &released, device)
        .map_err(|e| in_file(&path, e))?;
    Ok(model.with_packed_weights(packed))
}

/// A checkpoint error of `import` as an error of the file at `path`.
fn in_file(path: &Path, e: WeightsError) -> WeightsError {
    match e {
        WeightsError::Missing { .. }
        | WeightsError::Shape { .. }
        | WeightsError::Unexpected { .. }
        | WeightsError::NonFinite { .. } => WeightsError::format(path, e.to_string()),
        other => other,
    }
}

/// A tensor that `path` holds twice, once under the `transformer.` prefix.
fn duplicate(path: &Path, ours: &str) -> WeightsError {
    WeightsError::format(
        path,
        format!("tensor {ours} appears both with and without the transformer. prefix"),
    )
}

/// Writes `dir/config.json` + `dir/model.safetensors` in the layout
/// `transformers.OpenAIGPTLMHeadModel.from_pretrained` (GPT-1) or
/// `GPT2LMHeadModel.from_pretrained` (GPT-2) reads, names without the `transformer.` prefix as
/// in the released checkpoints.
pub fn save(model: &Gpt, dir: &Path) -> Result<(), WeightsError> {
    std::fs::create_dir_all(dir).map_err(|e| WeightsError::io(dir, e))?;
    let config = serde_json::to_string_pretty(&model.config().to_hf_json()).expect("json");
    crate::files::write_atomic(&dir.join(CONFIG_FILE), config.as_bytes())?;
    let arch = model.config().arch;
    save_safetensors(&named::export(model), &dir.join(WEIGHTS_FILE), |name| {
        to_hf_name(arch, name)
    })
}

/// Writes `tensors` as f32 safetensors under the names `rename` gives.
pub fn save_safetensors(
    tensors: &NamedTensors,
    path: &Path,
    rename: impl Fn(&str) -> String,
) -> Result<(), WeightsError> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            let raw = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (rename(name), t.shape.clone(), raw)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, raw)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), raw)
                .map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| WeightsError::format(path, e.to_string()))?;
    let metadata = Some(std::collections::HashMap::from([(
        "format".to_string(),
        "pt".to_string(),
    )]));
    let serialized = safetensors::serialize(views, &metadata)
        .map_err(|e| WeightsError::format(path, e.to_string()))?;
    Ok(crate::files::write_atomic(path, &serialized)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_conversion() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x0001), 5.960_464_5e-8); // smallest subnormal
        assert_eq!(half_to_f32(0x7bff), 65504.0);
        assert!(half_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn names_with_and_without_prefix() {
        let gpt1 = |n| from_hf_name(Arch::Gpt1, n);
        assert_eq!(
            gpt1("transformer.h.0.ln_1.weight").unwrap(),
            "h.0.ln_1.weight"
        );
        assert_eq!(gpt1("h.0.ln_1.weight").unwrap(), "h.0.ln_1.weight");
        assert_eq!(
            gpt1("transformer.tokens_embed.weight").unwrap(),
            "tokens_embed"
        );
        assert_eq!(gpt1("lm_head.weight"), None);
        assert_eq!(
            to_hf_name(Arch::Gpt1, "positions_embed"),
            "positions_embed.weight"
        );
    }

    #[test]
    fn gpt2_names() {
        let gpt2 = |n| from_hf_name(Arch::Gpt2, n);
        assert_eq!(gpt2("transformer.wte.weight").unwrap(), "tokens_embed");
        assert_eq!(gpt2("wpe.weight").unwrap(), "positions_embed");
        assert_eq!(gpt2("ln_f.bias").unwrap(), "ln_f.bias");
        assert_eq!(
            gpt2("h.3.attn.c_attn.bias").unwrap(),
            "h.3.attn.c_attn.bias"
        );
        assert_eq!(
            gpt2("h.3.attn.c_proj.bias").unwrap(),
            "h.3.attn.c_proj.bias"
        );
        assert_eq!(gpt2("transformer.h.3.attn.bias"), None);
        assert_eq!(gpt2("h.11.attn.masked_bias"), None);
        assert_eq!(gpt2("transformer.lm_head.weight"), None);
        assert_eq!(gpt2("lm_head.weight"), None);
        assert_eq!(to_hf_name(Arch::Gpt2, "tokens_embed"), "wte.weight");
        assert_eq!(to_hf_name(Arch::Gpt2, "positions_embed"), "wpe.weight");
        // GPT-1 has no such buffers: an `attn.bias` there is a foreign tensor, reported.
        assert_eq!(gpt1_name("h.0.attn.bias"), Some("h.0.attn.bias".into()));
    }

    fn gpt1_name(n: &str) -> Option<String> {
        from_hf_name(Arch::Gpt1, n)
    }
}
