//! `genpt info`: what a model is and what it costs.

use std::path::PathBuf;

use clap::Args;

use crate::config::{Arch, GptConfig};

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// A model directory (Hugging Face or official layout).
    #[arg(conflicts_with = "preset", required_unless_present = "preset")]
    pub model_dir: Option<PathBuf>,
    /// A built-in preset instead: gpt1, small, mini, tiny (GPT-1) or gpt2, gpt2-medium,
    /// gpt2-large, gpt2-xl, gpt2-small, gpt2-mini, gpt2-tiny (GPT-2).
    #[arg(long)]
    pub preset: Option<String>,
    /// Heads, for the official layout.
    #[arg(long, default_value_t = 12)]
    pub n_head: usize,
    /// Sequences per batch for the activation-memory estimate.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let config = match (&args.preset, &args.model_dir) {
        (Some(name), _) => GptConfig::preset(name).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown preset {name:?} (known: {})",
                GptConfig::PRESETS.join(", ")
            )
        })?,
        (None, Some(dir)) => read_config(dir, args.n_head)?,
        (None, None) => unreachable!("clap requires one"),
    };
    print!("{}", describe(&config, args.batch));
    Ok(())
}

/// The configuration of a model directory without loading its weights.
fn read_config(dir: &std::path::Path, n_head: usize) -> anyhow::Result<GptConfig> {
    if dir.join(crate::weights::hf::CONFIG_FILE).exists() {
        return Ok(crate::weights::hf::read_config(dir)?);
    }
    // The official layout: its shapes imply the config; loading is the simplest honest way.
    let device = crate::device::device("flex").map_err(anyhow::Error::msg)?;
    let options = crate::weights::LoadOptions { n_head };
    Ok(crate::weights::load_model(dir, &options, &device)?
        .config()
        .clone())
}

fn gib(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", bytes / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    }
}

pub fn describe(config: &GptConfig, batch: usize) -> String {
    let params = config.parameter_count() as f64;
    let (t, d, l, h) = (
        config.n_positions as f64,
        config.n_embd as f64,
        config.n_layer as f64,
        config.n_head as f64,
    );
    let f = config.ffn_width() as f64;
    // Activations autodiff keeps per sequence of n_positions tokens, in f32 values: per layer the
    // qkv projection (3d), attention scores, softmax and dropout mask (3·h·t), context, c_proj
    // out, two residual sums and LayerNorm intermediates (~8d), the FFN's pre- and
    // post-activation and the GELU intermediates (~4f); then the logits and log-softmax (2·V).
    let per_token = l * (11.0 * d + 3.0 * h * t + 4.0 * f) + 2.0 * config.vocab_size as f64;
    let activations = 4.0 * batch as f64 * t * per_token;
    let mut out = String::new();
    use std::fmt::Write;
    let arch = match config.arch {
        Arch::Gpt1 => "GPT-1 (post-LayerNorm blocks)",
        Arch::Gpt2 => "GPT-2 (pre-LayerNorm blocks, final LayerNorm)",
    };
    writeln!(out, "architecture      {arch}").unwrap();
    writeln!(out, "layers            {}", config.n_layer).unwrap();
    writeln!(
        out,
        "width             {} ({} heads of {})",
        config.n_embd,
        config.n_head,
        config.head_dim()
    )
    .unwrap();
    writeln!(out, "feed-forward      {}", config.ffn_width()).unwrap();
    writeln!(out, "context           {} positions", config.n_positions).unwrap();
    writeln!(
        out,
        "vocabulary        {} tokens + {} special",
        config.vocab_size, config.n_special
    )
    .unwrap();
    writeln!(
        out,
        "dropout           embedding {}, attention {}, residual {}",
        config.embd_pdrop, config.attn_pdrop, config.resid_pdrop
    )
    .unwrap();
    writeln!(
        out,
        "parameters        {} ({:.1}M)",
        config.parameter_count(),
        params / 1e6
    )
    .unwrap();
    writeln!(out, "weights (f32)     {}", gib(4.0 * params)).unwrap();
    writeln!(
        out,
        "training state    {} (weights, gradients, two Adam moments)",
        gib(16.0 * params)
    )
    .unwrap();
    writeln!(
        out,
        "activations       ~{} for a batch of {batch} × {} tokens (estimate)",
        gib(activations),
        config.n_positions
    )
    .unwrap();
    out
}
