//! The tokenizer that goes with a model directory: the one named, else the vocabulary files
//! the directory carries (every model genpt writes carries them; a fine-tuned one with its
//! special tokens).

use std::path::{Path, PathBuf};

use anyhow::Context;
use genpt_tokenizer::Tokenizer;

/// The tokenizer of a model: `explicit`, else the model
/// directory's own vocabulary files. Returns it with the directory it came from.
pub fn resolve_tokenizer(
    explicit: Option<&Path>,
    model_dir: Option<&Path>,
) -> anyhow::Result<(Tokenizer, PathBuf)> {
    let dir = match (explicit, model_dir) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(model)) if genpt_tokenizer::vocab::find_files(model).is_ok() => {
            model.to_path_buf()
        }
        (None, Some(model)) => anyhow::bail!(
            "{}: no vocabulary files in the model directory; pass --tokenizer DIR",
            model.display()
        ),
        (None, None) => anyhow::bail!("--tokenizer DIR is needed"),
    };
    let tokenizer = Tokenizer::from_dir(&dir)
        .with_context(|| format!("loading the tokenizer from {}", dir.display()))?;
    Ok((tokenizer, dir))
}

/// `model` and its tokenizer, checked to agree on the vocabulary (a tokenizer of another model
/// would score and generate garbage without an error).
pub fn check_vocabulary(tokenizer: &Tokenizer, model: &crate::Gpt) -> anyhow::Result<()> {
    anyhow::ensure!(
        tokenizer.vocab_size() == model.config().vocab_size,
        "the tokenizer has {} tokens but the model predicts {}",
        tokenizer.vocab_size(),
        model.config().vocab_size
    );
    Ok(())
}
