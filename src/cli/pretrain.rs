//! `genpt pretrain`: stage one, generative pre-training.

use std::path::PathBuf;

use clap::Args;

use crate::pretrain::{pretrain, RunConfig};

#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// The run's TOML configuration (see configs/ for examples).
    #[arg(long)]
    pub config: PathBuf,
    /// Override a configuration key, e.g. `--set optimizer.lr=1e-4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Continue from the newest loadable checkpoint in the run directory.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this update (with a checkpoint), as if interrupted; `--resume` continues.
    #[arg(long)]
    pub until: Option<u64>,
    /// Continued pre-training: start from this model directory (same as `model.init`).
    #[arg(long)]
    pub init: Option<PathBuf>,
}

pub fn run(args: PretrainArgs) -> anyhow::Result<()> {
    let mut overrides = args.overrides.clone();
    if let Some(dir) = &args.init {
        overrides.push(format!("model.init={:?}", dir.display().to_string()));
    }
    let config = RunConfig::load(&args.config, &overrides).map_err(anyhow::Error::msg)?;
    let outcome = pretrain(&config, args.resume, args.until)?;
    let val = outcome
        .val_loss
        .map(|v| format!(", validation loss {v:.4} (perplexity {:.1})", v.exp()))
        .unwrap_or_default();
    eprintln!(
        "done: {} updates, training loss {:.4}{val}",
        outcome.steps, outcome.final_loss
    );
    if let Some(dir) = outcome.last_checkpoint {
        eprintln!("model: {}", dir.display());
    }
    eprintln!("run directory: {}", config.out_dir.display());
    Ok(())
}
