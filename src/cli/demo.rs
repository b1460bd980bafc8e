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
    /// Pre-training updates. The model learns the stories' sentence patterns within a few hundred
    /// and the characters' facts only after about 1,000 to 2,000 (see docs/evidence.md).
    #[arg(long, default_value_t = 2000)]
    pub pretrain_steps: u64,
    /// Labeled training examples per task.
    #[arg(long, default_value_t = 400)]
    pub train_examples: usize,
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    /// Fine-tuning learning rate.
    #[arg(long, default_value_t = 5e-4)]
    pub finetune_lr: f64,
    /// λ of the auxiliary LM loss during fine-tuning.
    #[arg(long, default_value_t = 0.5)]
    pub lm_coef: f64,
    /// Fine-tuning warmup, as a fraction of its updates.
    #[arg(long, default_value_t = 0.05)]
    pub warmup: f64,
    /// Tasks to fine-tune, comma-separated (classification, entailment, similarity, choice).
    #[arg(long, value_delimiter = ',', default_values_t = crate::demo::run::TASKS.map(String::from))]
    pub tasks: Vec<String>,
    /// Reuse the tokenizer and pre-trained model of an earlier demo run with the same seed
    /// (skips stages 1–3).
    #[arg(long)]
    pub reuse: Option<PathBuf>,
    /// Trace the first N updates of every fine-tuning run for scripts/finetune_parity.py.
    #[arg(long, default_value_t = 0)]
    pub trace_updates: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "flex")]
    pub backend: String,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let out = args.out.unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
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
        lm_coef: args.lm_coef,
        warmup: args.warmup,
        tasks: args.tasks.into_iter().filter(|t| !t.is_empty()).collect(),
        reuse: args.reuse,
        trace_updates: args.trace_updates,
        seed: args.seed,
        backend: args.backend,
    })?;
    Ok(())
}
