//! `genpt score`: the log-probability of each next token of a sequence, in eval mode.

use clap::Args;

use super::{BackendArgs, ModelArgs};
use crate::host::HostValues;
use burn::tensor::{Int, Tensor, TensorData};

#[derive(Args, Debug)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Token ids, comma-separated (at least two).
    #[arg(
        long,
        value_delimiter = ',',
        required_unless_present = "text",
        conflicts_with = "text"
    )]
    pub ids: Vec<i64>,
    /// Text to score instead of ids (needs --tokenizer).
    #[arg(long, requires = "tokenizer")]
    pub text: Option<String>,
    /// Tokenizer directory, for --text.
    #[arg(long)]
    pub tokenizer: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub precision: super::InferencePrecisionArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

pub fn run(args: ScoreArgs) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let model = args.precision.load(&args.model, &device)?;
    let (ids, pieces) = match (&args.text, &args.tokenizer) {
        (Some(text), Some(dir)) => {
            let tokenizer = genpt_tokenizer::Tokenizer::from_dir(dir)?;
            let ids: Vec<i64> = tokenizer.encode(text).into_iter().map(i64::from).collect();
            let pieces: Vec<String> = ids.iter().map(|&i| tokenizer.decode(&[i as u32])).collect();
            (ids, Some(pieces))
        }
        _ => (args.ids.clone(), None),
    };
    let logprobs = score_ids(&model, &ids)?;
    let mean = logprobs.iter().map(|&x| x as f64).sum::<f64>() / logprobs.len() as f64;
    let mut out = serde_json::json!({ "next_token_logprobs": logprobs, "mean_logprob": mean });
    if let Some(pieces) = pieces {
        out["ids"] = ids.into();
        out["tokens"] = pieces.into();
    }
    println!("{out}");
    Ok(())
}

/// Log-probability of `ids[t+1]` given `ids[..=t]` for every t, without dropout.
pub fn score_ids(model: &crate::Gpt, ids: &[i64]) -> anyhow::Result<Vec<f32>> {
    let config = model.config();
    anyhow::ensure!(
        ids.len() >= 2,
        "need at least two token ids to score a next token"
    );
    anyhow::ensure!(
        ids.len() <= config.n_positions,
        "{} ids exceed the model's context of {} positions",
        ids.len(),
        config.n_positions
    );
    let rows = config.embedding_rows() as i64;
    if let Some(bad) = ids.iter().find(|&&id| id < 0 || id >= rows) {
        anyhow::bail!("token id {bad} is outside the embedding (0..{rows})");
    }
    let device = model.tokens_embed.val().device();
    let tensor =
        Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &device);
    let vocab = config.vocab_size as i64;
    if let Some(special) = ids[1..].iter().find(|&&id| id >= vocab) {
        anyhow::bail!(
            "token id {special} is a special token: the LM head predicts only the vocabulary (0..{vocab})"
        );
    }
    let logprobs = model.next_token_logprobs(model.forward(tensor.clone(), false).hidden, tensor);
    Ok(logprobs.host_values())
}
