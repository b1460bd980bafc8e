//! `genpt lm-eval`: the GPT-2 paper's view of a language model on held-out text: bits per byte
//! (comparable across tokenizers) and LAMBADA-style last-word accuracy (`zeroshot::lm_eval`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{BackendArgs, ModelArgs};
use crate::zeroshot::lm_eval::{last_word_passages, predicts_last_word, text_cost, TextCost};

#[derive(Args, Debug)]
pub struct LmEvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Tokenizer directory (GPT-1 or GPT-2 vocabulary files); default: the model directory's own.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Held-out text files or directories of *.txt files (e.g. books not used in pre-training).
    #[arg(long, required = true, num_args = 1..)]
    pub corpus: Vec<PathBuf>,
    /// Drop Project Gutenberg's header and footer.
    #[arg(long)]
    pub strip_gutenberg: bool,
    /// Read at most this many bytes of each file for bits per byte (0: all).
    #[arg(long, default_value_t = 20_000)]
    pub max_bytes: usize,
    /// Last-word passages to score (0: none).
    #[arg(long, default_value_t = 200)]
    pub passages: usize,
    /// Words a paragraph needs to become a last-word passage.
    #[arg(long, default_value_t = 40)]
    pub min_words: usize,
    #[command(flatten)]
    pub precision: super::InferencePrecisionArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// The text of `s` up to `max` bytes, cut at a character boundary (0: all).
fn prefix(s: &str, max: usize) -> &str {
    if max == 0 || s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub fn run(args: LmEvalArgs) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let (model, tokenizer) = super::load_model_and_tokenizer(
        &args.model,
        &args.precision,
        args.tokenizer.as_deref(),
        &device,
    )?;
    let encode = |t: &str| tokenizer.encode(t);
    let files = super::prepare::collect_files(&args.corpus)?;
    anyhow::ensure!(!files.is_empty(), "no .txt files in {:?}", args.corpus);
    let (mut cost, mut passages, mut scored, mut right) =
        (TextCost::default(), 0usize, 0usize, 0usize);
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let (text, _) = genpt_tokenizer::decode_utf8_lossy_counted(&bytes);
        let text = if args.strip_gutenberg {
            super::prepare::strip_gutenberg(&text)
        } else {
            &text
        };
        cost.add(text_cost(&model, prefix(text, args.max_bytes), &encode));
        let wanted = args
            .passages
            .saturating_sub(passages)
            .div_ceil(files.len().max(1))
            .max(1);
        for passage in last_word_passages(text, args.min_words, wanted) {
            if passages >= args.passages {
                break;
            }
            passages += 1;
            if let Some(ok) = predicts_last_word(&model, &passage, &encode) {
                scored += 1;
                right += usize::from(ok);
            }
        }
    }
    let out = serde_json::json!({
        "bits_per_byte": cost.bits_per_byte(),
        "token_perplexity": cost.perplexity(),
        "tokens": cost.tokens,
        "bytes": cost.bytes,
        "last_word_accuracy": if scored > 0 { right as f64 / scored as f64 } else { f64::NAN },
        "last_word_passages": scored,
        "last_word_skipped": passages - scored,
    });
    println!("{out}");
    Ok(())
}
