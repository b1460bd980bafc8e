//! Model hyper-parameters: the paper's GPT-1, GPT-2 (Radford et al. 2019), and smaller presets
//! of both for CPU work.

use serde::{Deserialize, Serialize};

/// Which of the two decoders a configuration describes. They share every layer and differ only
/// in where LayerNorm sits, so one model code path switches on this (see `model::gpt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// GPT-1: post-LayerNorm blocks `ln(x + sublayer(x))`, no final LayerNorm. The default, so
    /// that configurations written before GPT-2 existed keep meaning GPT-1.
    #[default]
    Gpt1,
    /// GPT-2: pre-LayerNorm blocks `x + sublayer(ln(x))`, a final LayerNorm `ln_f`, and residual
    /// projections initialised with std `initializer_range / √(2·n_layer)` (paper, section 2.3).
    Gpt2,
}

impl Arch {
    /// Hugging Face's `model_type` for this architecture.
    pub fn hf_model_type(self) -> &'static str {
        match self {
            Arch::Gpt1 => "openai-gpt",
            Arch::Gpt2 => "gpt2",
        }
    }
}

/// Everything that fixes the shape and the regularisation of a GPT-1 or GPT-2 model.
///
/// Field names follow Hugging Face's `OpenAIGPTConfig` / `GPT2Config` so that a `config.json`
/// written by `transformers` reads straight into this struct (unknown keys are ignored there,
/// see [`GptConfig::from_hf_json`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    /// GPT-1 or GPT-2; absent in configurations saved before GPT-2, which are GPT-1's.
    #[serde(default)]
    pub arch: Arch,
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
            arch: Arch::Gpt1,
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

    /// GPT-2's smallest released model ("124M"): 12 layers, 768 wide, 12 heads, context 1,024,
    /// 50,257 byte-level BPE tokens (the last, 50256, is `<|endoftext|>`). Same dropout,
    /// epsilon and initializer range as GPT-1 (Hugging Face's `GPT2Config` defaults).
    pub fn gpt2() -> Self {
        Self {
            arch: Arch::Gpt2,
            vocab_size: 50_257,
            n_positions: 1024,
            ..Self::gpt1()
        }
    }

    /// A named preset. `gpt1` is the paper's model and `gpt2` GPT-2's 124M one (with its larger
    /// siblings); the others keep their family's vocabulary and shape rules but are small enough
    /// to pre-train on a laptop CPU.
    pub fn preset(name: &str) -> Option<Self> {
        let resize = |base: &Self, n_layer, n_embd, n_head, n_positions| Self {
            n_layer,
            n_embd,
            n_head,
            n_positions,
            ..base.clone()
        };
        let (gpt1, gpt2) = (Self::gpt1(), Self::gpt2());
        Some(match name {
            "gpt1" => gpt1,
            "small" => resize(&gpt1, 6, 384, 6, 256),
            "mini" => resize(&gpt1, 4, 256, 4, 128),
            "tiny" => resize(&gpt1, 2, 128, 2, 64),
            "gpt2" => gpt2,
            "gpt2-medium" => resize(&gpt2, 24, 1024, 16, 1024),
            "gpt2-large" => resize(&gpt2, 36, 1280, 20, 1024),
            "gpt2-xl" => resize(&gpt2, 48, 1600, 25, 1024),
            "gpt2-small" => resize(&gpt2, 6, 384, 6, 256),
            "gpt2-mini" => resize(&gpt2, 4, 256, 4, 128),
            "gpt2-tiny" => resize(&gpt2, 2, 128, 2, 64),
            _ => return None,
        })
    }

    pub const PRESETS: &'static [&'static str] = &[
        "gpt1",
        "small",
        "mini",
        "tiny",
        "gpt2",
        "gpt2-medium",
        "gpt2-large",
        "gpt2-xl",
        "gpt2-small",
        "gpt2-mini",
        "gpt2-tiny",
    ];

    /// Std of the weights of the projections that write into the residual stream (attention and
    /// MLP `c_proj`). GPT-2 scales them by 1/√N, N = 2·n_layer residual sums, so that the
    /// stream's variance does not grow with depth; GPT-1 draws every weight alike.
    pub fn residual_init_std(&self) -> f64 {
        match self.arch {
            Arch::Gpt1 => self.initializer_range,
            Arch::Gpt2 => self.initializer_range / ((2 * self.n_layer) as f64).sqrt(),
        }
    }

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
        let ln_f = match self.arch {
            Arch::Gpt1 => 0,
            Arch::Gpt2 => 2 * d,
        };
        self.embedding_rows() * d + self.n_positions * d + self.n_layer * per_layer + ln_f
    }

    /// Reads a Hugging Face `config.json`: `model_type` `openai-gpt` (GPT-1, also assumed when
    /// the key is absent) or `gpt2`. Keys this model has no use for (architectures, task
    /// parameters ...) are ignored; missing ones fall back to the family's 124M/117M defaults.
    /// Options that would change GPT-2's computation but that genpt does not implement are
    /// refused rather than silently ignored.
    pub fn from_hf_json(text: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let object = value
            .as_object()
            .ok_or("the top level is not a JSON object")?;
        let arch = match object.get("model_type").and_then(|v| v.as_str()) {
            None | Some("openai-gpt") => Arch::Gpt1,
            Some("gpt2") => Arch::Gpt2,
            Some(kind) => {
                return Err(format!(
                    "model_type is {kind:?}; genpt reads \"openai-gpt\" and \"gpt2\" models"
                ))
            }
        };
        let flag = |key: &str| object.get(key).and_then(|v| v.as_bool());
        match arch {
            Arch::Gpt1 => {
                // OpenAIGPT's "gelu" is the tanh approximation (`gelu_new`), which genpt uses.
                if let Some(act) = object.get("afn").and_then(|v| v.as_str()) {
                    if act != "gelu" && act != "gelu_new" {
                        return Err(format!(
                            "activation {act:?} is not supported (GPT-1 uses gelu)"
                        ));
                    }
                }
            }
            Arch::Gpt2 => {
                // GPT2's "gelu" is the exact erf form, unlike OpenAIGPT's: only the tanh forms
                // are the activation genpt computes.
                if let Some(act) = object.get("activation_function").and_then(|v| v.as_str()) {
                    if act != "gelu_new" && act != "gelu_pytorch_tanh" {
                        return Err(format!(
                            "activation_function {act:?} is not supported (GPT-2 uses gelu_new)"
                        ));
                    }
                }
                if flag("scale_attn_weights") == Some(false) {
                    return Err("scale_attn_weights = false is not supported".into());
                }
                if flag("scale_attn_by_inverse_layer_idx") == Some(true) {
                    return Err("scale_attn_by_inverse_layer_idx = true is not supported".into());
                }
                if flag("add_cross_attention") == Some(true) {
                    return Err("add_cross_attention = true is not supported".into());
                }
                if flag("tie_word_embeddings") == Some(false) {
                    return Err(
                        "an untied lm_head (tie_word_embeddings = false) is not supported".into(),
                    );
                }
            }
        }
        let base = match arch {
            Arch::Gpt1 => Self::gpt1(),
            Arch::Gpt2 => Self::gpt2(),
        };
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
            arch,
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

    /// A `config.json` that `transformers.OpenAIGPTLMHeadModel.from_pretrained` (GPT-1) or
    /// `GPT2LMHeadModel.from_pretrained` (GPT-2) accepts. Special rows are counted into
    /// `vocab_size` there, since Hugging Face has no separate count.
    pub fn to_hf_json(&self) -> serde_json::Value {
        let mut json = self.to_hf_json_common();
        let extra = match self.arch {
            Arch::Gpt1 => serde_json::json!({
                "architectures": ["OpenAIGPTLMHeadModel"],
                "afn": "gelu",
            }),
            Arch::Gpt2 => serde_json::json!({
                "architectures": ["GPT2LMHeadModel"],
                "activation_function": "gelu_new",
                // GPT-2's attention as genpt computes it; written out so that a reader with
                // other defaults cannot silently compute something else.
                "scale_attn_weights": true,
                "scale_attn_by_inverse_layer_idx": false,
                "reorder_and_upcast_attn": false,
            }),
        };
        let object = json.as_object_mut().expect("an object");
        for (key, value) in extra.as_object().expect("an object") {
            object.insert(key.clone(), value.clone());
        }
        json
    }

    fn to_hf_json_common(&self) -> serde_json::Value {
        serde_json::json!({
            "model_type": self.arch.hf_model_type(),
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
        assert!(GptConfig::from_hf_json(r#"{"model_type":"bert"}"#).is_err());
    }

    #[test]
    fn gpt2_has_the_released_parameter_count() {
        // Hugging Face reports 124,439,808 parameters for `gpt2` (ln_f included, lm_head tied).
        assert_eq!(GptConfig::gpt2().parameter_count(), 124_439_808);
        assert_eq!(GptConfig::preset("gpt2").unwrap(), GptConfig::gpt2());
        for name in GptConfig::PRESETS {
            let c = GptConfig::preset(name).unwrap();
            c.validate().unwrap();
            assert_eq!(c.arch == Arch::Gpt2, name.starts_with("gpt2"), "{name}");
        }
    }

    #[test]
    fn reads_a_gpt2_config_and_refuses_what_it_does_not_compute() {
        let json = r#"{"activation_function":"gelu_new","architectures":["GPT2LMHeadModel"],
            "attn_pdrop":0.1,"bos_token_id":50256,"embd_pdrop":0.1,"eos_token_id":50256,
            "initializer_range":0.02,"layer_norm_epsilon":1e-05,"model_type":"gpt2","n_ctx":1024,
            "n_embd":768,"n_head":12,"n_layer":12,"n_positions":1024,"resid_pdrop":0.1,
            "summary_type":"cls_index","vocab_size":50257}"#;
        assert_eq!(GptConfig::from_hf_json(json).unwrap(), GptConfig::gpt2());
        // Missing keys take GPT-2's defaults, not GPT-1's.
        let minimal = GptConfig::from_hf_json(r#"{"model_type":"gpt2"}"#).unwrap();
        assert_eq!(minimal, GptConfig::gpt2());
        for bad in [
            r#"{"model_type":"gpt2","activation_function":"gelu"}"#,
            r#"{"model_type":"gpt2","scale_attn_by_inverse_layer_idx":true}"#,
            r#"{"model_type":"gpt2","scale_attn_weights":false}"#,
            r#"{"model_type":"gpt2","tie_word_embeddings":false}"#,
        ] {
            assert!(GptConfig::from_hf_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hf_json_round_trips_both_architectures() {
        for mut config in [
            GptConfig::preset("tiny").unwrap(),
            GptConfig::preset("gpt2-tiny").unwrap(),
        ] {
            config.n_special = 3;
            let text = config.to_hf_json().to_string();
            assert_eq!(GptConfig::from_hf_json(&text).unwrap(), config);
        }
        assert_eq!(GptConfig::gpt2().to_hf_json()["model_type"], "gpt2");
    }

    #[test]
    fn configs_saved_before_gpt2_are_gpt1() {
        // genpt's own serialisation (fine-tuning and pre-training state) had no `arch` key.
        let mut old = serde_json::to_value(GptConfig::gpt1()).unwrap();
        old.as_object_mut().unwrap().remove("arch");
        let read: GptConfig = serde_json::from_value(old).unwrap();
        assert_eq!(read, GptConfig::gpt1());
        let gpt2 = serde_json::to_value(GptConfig::gpt2()).unwrap();
        assert_eq!(gpt2["arch"], "gpt2");
    }

    #[test]
    fn gpt2_scales_the_residual_projections() {
        let c = GptConfig::gpt2();
        assert!((c.residual_init_std() - 0.02 / 24f64.sqrt()).abs() < 1e-15);
        assert_eq!(GptConfig::gpt1().residual_init_std(), 0.02);
    }
}
