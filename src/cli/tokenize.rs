//! `genpt tokenize` and `genpt tokenizer train`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// Tokenizer directory (original or Hugging Face file names).
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// JSONL input: one {"text": ...} object per line.
    #[arg(long)]
    pub input: PathBuf,
    /// JSONL output: the same lines, in order, with "ids" added.
    #[arg(long)]
    pub output: PathBuf,
}

pub fn run(args: TokenizeArgs) -> anyhow::Result<()> {
    let tokenizer = genpt_tokenizer::Tokenizer::from_dir(&args.tokenizer)?;
    let started = std::time::Instant::now();
    let stats = genpt_tokenizer::encode_jsonl(&tokenizer, &args.input, &args.output)?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{} lines, {} tokens, {:.2} MB/s; wrote {}",
        stats.lines,
        stats.tokens,
        stats.bytes as f64 / 1e6 / seconds.max(1e-9),
        args.output.display()
    );
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum TokenizerCommand {
    /// Learn a BPE vocabulary over the GPT-1 pre-tokenization; writes both file layouts.
    Train(TrainArgs),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Text files or directories of *.txt files.
    #[arg(long, required = true, num_args = 1..)]
    pub corpus: Vec<PathBuf>,
    /// Number of merges to learn (GPT-1: 40,000).
    #[arg(long, default_value_t = 40_000)]
    pub merges: usize,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_tokenizer(command: TokenizerCommand) -> anyhow::Result<()> {
    match command {
        TokenizerCommand::Train(args) => {
            let files = super::prepare::collect_files(&args.corpus)?;
            anyhow::ensure!(!files.is_empty(), "the corpus is empty");
            let texts: Vec<String> = files
                .iter()
                .map(|f| {
                    std::fs::read(f)
                        .map(|b| genpt_tokenizer::decode_utf8_lossy_counted(&b).0)
                        .with_context(|| format!("reading {}", f.display()))
                })
                .collect::<anyhow::Result<_>>()?;
            let paragraphs: Vec<&str> = texts.iter().flat_map(|t| t.split("\n\n")).collect();
            let counts = genpt_tokenizer::train::count_words(paragraphs.to_vec());
            let (encoder, merges) = crate::data::vocabulary::train_vocabulary(&counts, args.merges);
            save_whole(&args.out, &encoder, &merges)?;
            eprintln!(
                "{} merges, {} pieces; wrote {}",
                merges.len(),
                encoder.len(),
                args.out.display()
            );
            Ok(())
        }
    }
}

/// Writes the vocabulary's files into `OUT.partial/` first and moves them into `out` only once
/// all are written: a full disk (or any failed write) leaves `out` as it was and removes the
/// partial files, instead of leaving a vocabulary that is half there.
fn save_whole(
    out: &std::path::Path,
    encoder: &std::collections::HashMap<String, u32>,
    merges: &[(String, String)],
) -> anyhow::Result<()> {
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("vocabulary");
    let partial = out.with_file_name(format!("{name}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    let written = genpt_tokenizer::vocab::save(&partial, encoder, merges)
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            // The crash tests' hook (`failpoints` builds only): the disk fills on the last write.
            crate::settings::failpoint("tokenizer-train-written")
                .with_context(|| format!("writing {}", partial.display()))
        });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for entry in std::fs::read_dir(&partial)? {
        let from = entry?.path();
        let to = out.join(from.file_name().expect("a file"));
        std::fs::rename(&from, &to).with_context(|| format!("moving {}", to.display()))?;
    }
    std::fs::remove_dir(&partial).with_context(|| format!("removing {}", partial.display()))?;
    Ok(())
}
