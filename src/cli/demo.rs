//! `genpt demo`: the whole method on built-in generated data.

use std::path::PathBuf;

use clap::Args;

use crate::demo::run::{run_demo, DemoOptions};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Run directory (default: runs/demo-<unix time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Stories in the pre-training corpus.
    #[arg(long, default_value_t = 4000)]
    pub stories: usize,
    #[arg(long, default_value_t = 600)]
    pub merges: usize,
    #[arg(long, default_value_t = 800)]
    pub pretrain_steps: u64,
    /// Labeled training examples per task.
    #[arg(long, default_value_t = 400)]
    pub train_examples: usize,
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    /// Fine-tuning learning rate.
    #[arg(long, default_value_t = 5e-4)]
    pub finetune_lr: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "flex")]
    pub backend: String,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let out = args.out.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        PathBuf::from(format!("runs/demo-{now}"))
    });
    run_demo(&DemoOptions {
        out,
        stories: args.stories,
        merges: args.merges,
        pretrain_steps: args.pretrain_steps,
        train_examples: args.train_examples,
        epochs: args.epochs,
        finetune_lr: args.finetune_lr,
        seed: args.seed,
        backend: args.backend,
    })?;
    Ok(())
}
