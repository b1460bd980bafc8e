//! `genpt pretrain`: stage one, generative pre-training.

use std::path::PathBuf;

use clap::Args;

use crate::pretrain::{pretrain_with, RunConfig};
use crate::train::in_launched_world;

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
    /// Tensor backend (same as `train.backend`): flex, ndarray, wgpu[:N|:cpu], vulkan[:N|:cpu]
    /// or cuda[:N], as built.
    #[arg(long)]
    pub backend: Option<String>,
    /// Arithmetic precision (same as `train.precision`): fp32 (default) or bf16 (bf16 compute
    /// on fp32 master weights and optimizer state).
    #[arg(long)]
    pub precision: Option<crate::precision::Precision>,
}

pub fn run(args: PretrainArgs) -> anyhow::Result<()> {
    let mut overrides = args.overrides.clone();
    if let Some(dir) = &args.init {
        overrides.push(format!("model.init={:?}", dir.display().to_string()));
    }
    if let Some(backend) = &args.backend {
        overrides.push(format!("train.backend={backend:?}"));
    }
    if let Some(precision) = args.precision {
        overrides.push(format!("train.precision=\"{precision}\""));
    }
    let config = RunConfig::load(&args.config, &overrides).map_err(anyhow::Error::msg)?;
    in_launched_world(|sync| {
        let leader = sync.is_leader();
        let outcome = pretrain_with(&config, args.resume, args.until, sync)?;
        if leader {
            report(&config, outcome);
        }
        Ok(())
    })
}

fn report(config: &RunConfig, outcome: crate::pretrain::RunOutcome) {
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
}
