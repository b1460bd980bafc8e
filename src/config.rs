//! Model hyper-parameters: the paper's GPT-1 and smaller presets for CPU work.

use serde::{Deserialize, Serialize};

/// Everything that fixes the shape and the regularisation of a GPT-1 model.
///
/// Field names follow Hugging Face's `OpenAIGPTConfig` so that a `config.json` written by
/// `transformers` reads straight into this struct (unknown keys are ignored there, see
/// [`GptConfig::from_hf_json`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Real (BPE) tokens: the rows the language-model head predicts.
    pub vocab_size: usize,
    /// Extra rows appended after the real tokens (start, delimiter, classify ...). They are
    /// embedded like tokens but never predicted by the LM head.
    #[serde(default)]
    pub n_special: usize,
    /// Context length: rows of the learned position embedding.
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    /// Width of the position-wise feed-forward layer (4 × n_embd in the paper).
    #[serde(default)]
    pub n_inner: Option<usize>,
    pub embd_pdrop: f64,
    pub attn_pdrop: f64,
    pub resid_pdrop: f64,
    pub layer_norm_epsilon: f64,
    pub initializer_range: f64,
}

impl GptConfig {
    /// The paper's model: 12 layers, 768 wide, 12 heads, FFN 3072, context 512, 40,478 tokens.
    pub fn gpt1() -> Self {
        Self {
            vocab_size: 40_478,
            n_special: 0,
            n_positions: 512,
            n_embd: 768,
            n_layer: 12,
            n_head: 12,
            n_inner: None,
            embd_pdrop: 0.1,
            attn_pdrop: 0.1,
            resid_pdrop: 0.1,
            layer_norm_epsilon: 1e-5,
            initializer_range: 0.02,
        }
    }

    /// A named preset. `gpt1` is the paper's model; the others keep its vocabulary and shape
    /// rules but are small enough to pre-train on a laptop CPU.
    pub fn preset(name: &str) -> Option<Self> {
        let base = Self::gpt1();
        let small = |n_layer, n_embd, n_head, n_positions| Self {
            n_layer,
            n_embd,
            n_head,
            n_positions,
            ..base.clone()
        };
        Some(match name {
            "gpt1" => base,
            "small" => small(6, 384, 6, 256),
            "mini" => small(4, 256, 4, 128),
            "tiny" => small(2, 128, 2, 64),
            _ => return None,
        })
    }

    pub const PRESETS: &'static [&'static str] = &["gpt1", "small", "mini", "tiny"];

    pub fn ffn_width(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    /// Rows of the token embedding: real tokens then special tokens.
    pub fn embedding_rows(&self) -> usize {
        self.vocab_size + self.n_special
    }

    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// Checks the relations between fields that the model relies on.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} must be positive"));
            }
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(format!(
                "n_embd ({}) must be a multiple of n_head ({})",
                self.n_embd, self.n_head
            ));
        }
        for (name, p) in [
            ("embd_pdrop", self.embd_pdrop),
            ("attn_pdrop", self.attn_pdrop),
            ("resid_pdrop", self.resid_pdrop),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{name} must be in [0, 1), got {p}"));
            }
        }
        Ok(())
    }

    /// Number of trainable scalars (the LM head is tied, so it adds none).
    pub fn parameter_count(&self) -> usize {
        let d = self.n_embd;
        let f = self.ffn_width();
        let per_layer = (d * 3 * d + 3 * d) // c_attn
            + (d * d + d) // attn c_proj
            + (d * f + f) // mlp c_fc
            + (f * d + d) // mlp c_proj
            + 4 * d; // two LayerNorms
        self.embedding_rows() * d + self.n_positions * d + self.n_layer * per_layer
    }

    /// Reads a Hugging Face `config.json` (`openai-gpt` model type). Keys this model has no use
    /// for (architectures, task parameters ...) are ignored; missing ones fall back to GPT-1's.
    pub fn from_hf_json(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let object = value
            .as_object()
            .ok_or("the top level is not a JSON object")?;
        if let Some(kind) = object.get("model_type").and_then(|v| v.as_str()) {
            if kind != "openai-gpt" {
                return Err(format!(
                    "model_type is {kind:?}; genpt reads \"openai-gpt\" models"
                ));
            }
        }
        let base = Self::gpt1();
        let int = |key: &str, default: usize| -> Result<usize, String> {
            match object.get(key) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(v) => v
                    .as_u64()
                    .map(|x| x as usize)
                    .ok_or_else(|| format!("{key} must be a non-negative integer, got {v}")),
            }
        };
        let float = |key: &str, default: f64| -> Result<f64, String> {
            match object.get(key) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(v) => v
                    .as_f64()
                    .ok_or_else(|| format!("{key} must be a number, got {v}")),
            }
        };
        let n_inner = match object.get("n_inner") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or("n_inner must be an integer")? as usize),
        };
        if let Some(act) = object.get("afn").and_then(|v| v.as_str()) {
            if act != "gelu" && act != "gelu_new" {
                return Err(format!(
                    "activation {act:?} is not supported (GPT-1 uses gelu)"
                ));
            }
        }
        // Hugging Face counts every embedding row in vocab_size. genpt writes the real-token
        // count beside it so that special rows survive a round trip; other checkpoints have none.
        let rows = int("vocab_size", base.vocab_size)?;
        let real = int("genpt_real_vocab_size", rows)?;
        if real > rows {
            return Err(format!(
                "genpt_real_vocab_size ({real}) exceeds vocab_size ({rows})"
            ));
        }
        let config = Self {
            vocab_size: real,
            n_special: rows - real,
            n_positions: int("n_positions", base.n_positions)?,
            n_embd: int("n_embd", base.n_embd)?,
            n_layer: int("n_layer", base.n_layer)?,
            n_head: int("n_head", base.n_head)?,
            n_inner,
            embd_pdrop: float("embd_pdrop", base.embd_pdrop)?,
            attn_pdrop: float("attn_pdrop", base.attn_pdrop)?,
            resid_pdrop: float("resid_pdrop", base.resid_pdrop)?,
            layer_norm_epsilon: float("layer_norm_epsilon", base.layer_norm_epsilon)?,
            initializer_range: float("initializer_range", base.initializer_range)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// A `config.json` that `transformers.OpenAIGPTLMHeadModel.from_pretrained` accepts. Special
    /// rows are counted into `vocab_size` there, since Hugging Face has no separate count.
    pub fn to_hf_json(&self) -> serde_json::Value {
        serde_json::json!({
            "architectures": ["OpenAIGPTLMHeadModel"],
            "model_type": "openai-gpt",
            "afn": "gelu",
            "tie_word_embeddings": true,
            "vocab_size": self.embedding_rows(),
            "genpt_real_vocab_size": self.vocab_size,
            "n_positions": self.n_positions,
            "n_embd": self.n_embd,
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "n_inner": self.n_inner,
            "embd_pdrop": self.embd_pdrop,
            "attn_pdrop": self.attn_pdrop,
            "resid_pdrop": self.resid_pdrop,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": self.initializer_range,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt1_has_the_papers_parameter_count() {
        // The paper's model has ~116.5M parameters with 40,478 tokens and 512 positions
        // (Hugging Face reports 116,534,784 for `openai-gpt`).
        assert_eq!(GptConfig::gpt1().parameter_count(), 116_534_784);
    }

    #[test]
    fn reads_a_transformers_config() {
        let json = r#"{"afn":"gelu","architectures":["OpenAIGPTLMHeadModel"],"attn_pdrop":0.1,
            "embd_pdrop":0.1,"initializer_range":0.02,"layer_norm_epsilon":1e-05,
            "model_type":"openai-gpt","n_ctx":512,"n_embd":768,"n_head":12,"n_layer":12,
            "n_positions":512,"n_special":0,"predict_special_tokens":true,"resid_pdrop":0.1,
            "vocab_size":40478}"#;
        assert_eq!(GptConfig::from_hf_json(json).unwrap(), GptConfig::gpt1());
    }

    #[test]
    fn rejects_bad_shapes() {
        let mut c = GptConfig::gpt1();
        c.n_head = 7;
        assert!(c.validate().unwrap_err().contains("multiple of n_head"));
        assert!(GptConfig::from_hf_json(r#"{"model_type":"gpt2"}"#).is_err());
    }
}
