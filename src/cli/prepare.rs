//! `genpt prepare`: raw text files → token shards for pre-training.
//!
//! Files are read in sorted path order, each one a document; documents go whole to either the
//! training or the validation split (chosen by a hash of the file name, so adding a book never
//! moves another), tokenized in parallel paragraph by paragraph, and written in order, so two
//! runs give the same bytes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use rayon::prelude::*;

use crate::data::corpus::{CorpusMeta, SplitMeta, META_FILE};
use crate::data::shards::ShardWriter;
use crate::rng::splitmix64;

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// Text files, or directories whose *.txt files are read (repeatable).
    #[arg(long, required = true, num_args = 1..)]
    pub corpus: Vec<PathBuf>,
    /// Tokenizer directory (original or Hugging Face file names).
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Drop Project Gutenberg's license header and footer.
    #[arg(long)]
    pub strip_gutenberg: bool,
    /// Share of documents held out for validation.
    #[arg(long, default_value_t = 0.05)]
    pub val_fraction: f64,
}

/// Every text file named by `paths`, sorted.
pub fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            for entry in
                std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))?
            {
                let p = entry?.path();
                if p.extension().is_some_and(|e| e == "txt") {
                    files.push(p);
                }
            }
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            anyhow::bail!("{}: no such file or directory", path.display());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// The text between Project Gutenberg's `*** START OF ...` and `*** END OF ...` lines; the
/// whole text when the markers are absent.
pub fn strip_gutenberg(text: &str) -> &str {
    let start = text
        .find("*** START OF")
        .and_then(|i| text[i..].find('\n').map(|j| i + j + 1))
        .unwrap_or(0);
    let end = text[start..]
        .find("*** END OF")
        .map_or(text.len(), |i| start + i);
    &text[start..end]
}

/// FNV-1a of a file name: the split assignment must not depend on where the corpus lives.
fn name_hash(path: &Path) -> u64 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    splitmix64(hash)
}

/// Which documents are held out: those with the smallest name hashes, at least one when there
/// are two or more documents and a non-zero fraction.
fn validation_set(files: &[PathBuf], fraction: f64) -> Vec<bool> {
    let n_val = if files.len() < 2 || fraction <= 0.0 {
        0
    } else {
        ((files.len() as f64 * fraction).round() as usize).clamp(1, files.len() - 1)
    };
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| name_hash(&files[i]));
    let mut held_out = vec![false; files.len()];
    for &i in &order[..n_val] {
        held_out[i] = true;
    }
    held_out
}

/// What goes between a file's paragraphs and after its last one. GPT-1: the one "\n" token the
/// whole-text pipeline would emit between paragraphs, nothing at the end (the release's books
/// ran on). GPT-2: the byte-level encoding of "\n\n", and `<|endoftext|>` closing each document,
/// as GPT-2's training data was laid out.
pub fn document_markers(tokenizer: &genpt_tokenizer::Tokenizer) -> (Vec<u32>, Vec<u32>) {
    match tokenizer.kind() {
        genpt_tokenizer::TokenizerKind::Gpt1 => (
            tokenizer.token_id("\n</w>").into_iter().collect(),
            Vec::new(),
        ),
        genpt_tokenizer::TokenizerKind::Gpt2ByteLevel => (
            tokenizer.encode("\n\n"),
            tokenizer.eot_id().into_iter().collect(),
        ),
    }
}

pub fn run(args: PrepareArgs) -> anyhow::Result<()> {
    let tokenizer = genpt_tokenizer::Tokenizer::from_dir(&args.tokenizer)
        .with_context(|| format!("loading the tokenizer from {}", args.tokenizer.display()))?;
    let files = collect_files(&args.corpus)?;
    anyhow::ensure!(
        !files.is_empty(),
        "the corpus is empty: no .txt files in {:?}",
        args.corpus
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let held_out = validation_set(&files, args.val_fraction);
    let (paragraph_break, document_end) = document_markers(&tokenizer);
    let fingerprint = tokenizer.fingerprint();
    let vocab_size = tokenizer.vocab_size();

    let total_bytes: u64 = files
        .iter()
        .map(|f| f.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = indicatif::ProgressBar::new(total_bytes);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "tokenizing [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = std::time::Instant::now();

    let mut train = ShardWriter::create(&args.out.join("train.tok"), vocab_size, fingerprint)?;
    let mut val = ShardWriter::create(&args.out.join("val.tok"), vocab_size, fingerprint)?;
    let (mut train_docs, mut val_docs) = (Vec::new(), Vec::new());
    let mut replaced_total = 0usize;
    let (mut train_bytes, mut val_bytes) = (0u64, 0u64);
    // Files in groups: parallel within a group, written in order, memory bounded by the group.
    for group in files
        .chunks(rayon::current_num_threads().max(1) * 2)
        .zip(held_out.chunks(rayon::current_num_threads().max(1) * 2))
    {
        // A stop asked for from outside (Ctrl-C in the Python package): the complete shards of
        // an earlier run stay as they were; this run's `*.tok.partial` files are left behind.
        crate::train::interrupt::check(|| {
            "the shards were not finished: run prepare again".into()
        })?;
        let (group_files, group_held) = group;
        let encoded: Vec<anyhow::Result<(Vec<u32>, usize, usize)>> = group_files
            .par_iter()
            .map(|file| {
                let bytes =
                    std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
                let (text, replaced) = genpt_tokenizer::decode_utf8_lossy_counted(&bytes);
                let text = if args.strip_gutenberg {
                    strip_gutenberg(&text)
                } else {
                    &text
                };
                let paragraphs: Vec<&str> = text
                    .split("\n\n")
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .collect();
                let mut ids = Vec::new();
                for (i, p) in tokenizer.encode_batch(&paragraphs).into_iter().enumerate() {
                    if i > 0 {
                        ids.extend_from_slice(&paragraph_break);
                    }
                    ids.extend(p);
                }
                ids.extend_from_slice(&document_end);
                bar.inc(bytes.len() as u64);
                Ok((ids, replaced, text.len()))
            })
            .collect();
        crate::progress::report("tokenizing", bar.position(), total_bytes, String::new());
        for ((file, &is_val), result) in group_files.iter().zip(group_held).zip(encoded) {
            let (ids, replaced, text_bytes) = result?;
            if replaced > 0 {
                eprintln!(
                    "warning: {}: {replaced} invalid UTF-8 sequences replaced by U+FFFD",
                    file.display()
                );
            }
            replaced_total += replaced;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if is_val {
                val.push_document(&ids)?;
                val_docs.push(name);
                val_bytes += text_bytes as u64;
            } else {
                train.push_document(&ids)?;
                train_docs.push(name);
                train_bytes += text_bytes as u64;
            }
        }
    }
    bar.finish_and_clear();
    let train_header = train.finish()?;
    let val_header = val.finish()?;
    anyhow::ensure!(
        train_header.tokens > 0,
        "the corpus produced no tokens (are the files empty?)"
    );
    let meta = CorpusMeta {
        format: "genpt-corpus-1".into(),
        vocab_size,
        fingerprint,
        train: SplitMeta {
            shards: vec!["train.tok".into()],
            documents: train_docs,
            tokens: train_header.tokens,
            bytes: Some(train_bytes),
        },
        validation: SplitMeta {
            shards: vec!["val.tok".into()],
            documents: val_docs,
            tokens: val_header.tokens,
            bytes: Some(val_bytes),
        },
    };
    crate::files::write_atomic(
        &args.out.join(META_FILE),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{} documents, {} training and {} validation tokens, {:.1} MB in {seconds:.1} s ({:.1} MB/s){}",
        files.len(),
        train_header.tokens,
        val_header.tokens,
        total_bytes as f64 / 1e6,
        total_bytes as f64 / 1e6 / seconds,
        if replaced_total > 0 { format!(", {replaced_total} invalid UTF-8 sequences replaced") } else { String::new() }
    );
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_documents_end_with_endoftext() {
        let Some(shared) = crate::shared_dir() else {
            eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
            return;
        };
        let gpt2 = genpt_tokenizer::Tokenizer::from_dir(&shared.join("data/gpt2-bpe")).unwrap();
        // GPT-2's ids: "\n\n" is 628 (ĊĊ), <|endoftext|> 50256.
        assert_eq!(document_markers(&gpt2), (vec![628], vec![50256]));
        let gpt1 = genpt_tokenizer::Tokenizer::from_dir(&shared.join("data/gpt1-bpe")).unwrap();
        assert_eq!(document_markers(&gpt1), (vec![40477], vec![]));
    }

    #[test]
    fn gutenberg_markers() {
        let text = "License blah\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nChapter 1.\nText.\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nmore license";
        assert_eq!(strip_gutenberg(text), "Chapter 1.\nText.\n");
        assert_eq!(strip_gutenberg("no markers"), "no markers");
    }

    #[test]
    fn split_is_by_document_and_stable() {
        let files: Vec<PathBuf> = (0..40)
            .map(|i| PathBuf::from(format!("/a/book{i:03}.txt")))
            .collect();
        let held = validation_set(&files, 0.1);
        assert_eq!(held.iter().filter(|&&h| h).count(), 4);
        let moved: Vec<PathBuf> = files
            .iter()
            .map(|f| Path::new("/elsewhere").join(f.file_name().unwrap()))
            .collect();
        assert_eq!(
            validation_set(&moved, 0.1),
            held,
            "independent of the directory"
        );
        assert_eq!(validation_set(&files[..1], 0.1), vec![false]);
    }
}
