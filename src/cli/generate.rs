//! `genpt generate`: sample a continuation of a prompt, streaming it as it is made.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{BackendArgs, ModelArgs};
use crate::generate::{generate, generate_until, SamplingConfig};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Tokenizer directory (GPT-1 or GPT-2 vocabulary files); default: the model directory's own.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    #[arg(long)]
    pub prompt: String,
    /// New tokens to generate.
    #[arg(long, default_value_t = 100)]
    pub max_tokens: usize,
    /// 0 for greedy decoding.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Sample among the k most likely tokens only (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Nucleus sampling: the smallest set of tokens with this much probability.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Recompute the whole context for every token instead of using the key/value cache.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub precision: super::InferencePrecisionArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.temperature >= 0.0,
        "--temperature must not be negative"
    );
    anyhow::ensure!(
        args.top_p > 0.0 && args.top_p <= 1.0,
        "--top-p must be in (0, 1]"
    );
    let device = args.backend.device()?;
    let (model, tokenizer) = super::load_model_and_tokenizer(
        &args.model,
        &args.precision,
        args.tokenizer.as_deref(),
        &device,
    )?;
    let prompt = tokenizer.encode(&args.prompt);
    anyhow::ensure!(!prompt.is_empty(), "the prompt has no tokens");
    let config = SamplingConfig {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        seed: args.seed,
        max_new_tokens: args.max_tokens,
    };
    let mut stdout = std::io::stdout();
    match model.config().arch {
        crate::config::Arch::Gpt1 => {
            print!("{} ", tokenizer.decode(&prompt));
            generate(&model, &prompt, &config, !args.no_cache, |id| {
                // Stream piece by piece: a piece ending in </w> ends a word.
                let piece = tokenizer.piece(id).unwrap_or("<unk>");
                let text = match piece.strip_suffix("</w>") {
                    Some(word) => format!("{word} "),
                    None => piece.to_string(),
                };
                let _ = write!(stdout, "{text}");
                let _ = stdout.flush();
            });
        }
        crate::config::Arch::Gpt2 => {
            // Byte-level tokens need not end on a character boundary: decode everything so far
            // and print what is new once it is whole (no trailing replacement character).
            let mut ids = prompt.clone();
            let mut printed = tokenizer.decode(&ids);
            print!("{printed}");
            // GPT-2 ends a document with <|endoftext|>: generation stops there.
            generate_until(
                &model,
                &prompt,
                &config,
                !args.no_cache,
                tokenizer.eot_id(),
                |id| {
                    ids.push(id);
                    let text = tokenizer.decode(&ids);
                    if text.ends_with('\u{fffd}') || !text.starts_with(&printed) {
                        return;
                    }
                    let _ = write!(stdout, "{}", &text[printed.len()..]);
                    let _ = stdout.flush();
                    printed = text;
                },
            );
        }
    }
    println!();
    Ok(())
}
