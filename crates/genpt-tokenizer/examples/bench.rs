//! Tokenizer throughput over a directory of text files (default ../shared/data/books), with
//! GPT-1's vocabulary or another (`--tokenizer ../shared/data/gpt2-bpe` for GPT-2's).
//!
//!     cargo run --release -p genpt-tokenizer --example bench -- [DIR] [--threads N] [--tokenizer DIR]

use std::path::PathBuf;
use std::time::Instant;

use genpt_tokenizer::{decode_utf8_lossy_counted, Tokenizer};
use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shared = std::env::var_os("GENPT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared"));
    let dir = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a)
        .map(PathBuf::from)
        .unwrap_or(shared.join("data/books"));
    if let Some(i) = args.iter().position(|a| a == "--threads") {
        let n: usize = args[i + 1].parse().unwrap();
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .unwrap();
    }
    let vocab = args
        .iter()
        .position(|a| a == "--tokenizer")
        .map(|i| PathBuf::from(&args[i + 1]))
        .unwrap_or(shared.join("data/gpt1-bpe"));
    let tokenizer = Tokenizer::from_dir(&vocab).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .map(|f| decode_utf8_lossy_counted(&std::fs::read(f).unwrap()).0)
        .collect();
    let paragraphs: Vec<&str> = texts.iter().flat_map(|t| t.split("\n\n")).collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let start = Instant::now();
    let tokens: usize = paragraphs
        .par_iter()
        .map(|p| tokenizer.encode(p).len())
        .sum();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{:?}: {} files, {:.1} MB, {tokens} tokens in {seconds:.1} s: {:.2} MB/s on {} threads",
        tokenizer.kind(),
        files.len(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / seconds,
        rayon::current_num_threads()
    );
}
