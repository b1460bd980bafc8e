//! `genpt finetune`, `genpt eval` and `genpt predict`: stage two on the paper's tasks.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::BackendArgs;
use crate::finetune::model::{add_special_rows, new_classifier, transfer_layers, with_dropout};
use crate::finetune::run::{self, EncodedExample, FinetuneConfig, Prediction};
use crate::finetune::tasks::{
    encode_example, head_shape, headline_metric, prediction_text, score, special_ids, SPECIAL_NAMES,
};
use genpt_tasks::{Example, Split, TaskSpec};

#[derive(Args, Debug, Clone)]
pub struct TaskArgs {
    /// cola, sst2, mrpc, stsb, qqp, mnli, mnli-mm, qnli, rte, wnli, ax, snli, scitail, race,
    /// race-middle, race-high, storycloze.
    #[arg(long)]
    pub task: String,
    /// The task's data directory (e.g. ../shared/data/glue/CoLA), or a directory holding it
    /// under its usual name (e.g. ../shared/data/glue).
    #[arg(long)]
    pub data: PathBuf,
    /// Tokenizer directory.
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// Use at most this many examples of each split (quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Args, Debug)]
pub struct FinetuneArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// The pre-trained model directory (Hugging Face or official layout).
    #[arg(long, required_unless_present = "preset")]
    pub model: Option<PathBuf>,
    /// With --init random: the model shape to train from scratch.
    #[arg(long)]
    pub preset: Option<String>,
    /// `pretrained` (default) or `random`: no pre-training, for the paper's ablation.
    #[arg(long, default_value = "pretrained")]
    pub init: String,
    /// Keep only the first N pre-trained blocks, re-initialising the rest (Figure 2, left).
    #[arg(long)]
    pub transfer_layers: Option<usize>,
    /// λ of the auxiliary LM loss (0: none).
    #[arg(long, default_value_t = 0.5)]
    pub lm_coef: f64,
    /// Peak learning rate (default: 6.25e-5, the paper's, for models 768 wide and up; 5e-4 for
    /// smaller ones).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Examples per update (default: 32, the paper's; 16 for models narrower than 768).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Warmup as a fraction of all updates (default: 0.002, the paper's; 0.05 for models
    /// narrower than 768).
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Examples per forward pass; gradients accumulate up to --batch-size.
    #[arg(long, default_value_t = 8)]
    pub micro_batch: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Every dropout rate (embedding, attention, residual, classifier); default: the model's own
    /// and 0.1 on the classifier. 0 makes a run deterministic, as the parity script needs.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Write the initial model, the encoded splits and the first N updates under OUT/trace/,
    /// for scripts/finetune_parity.py.
    #[arg(long, default_value_t = 0)]
    pub trace_updates: usize,
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub backend: BackendArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// A fine-tuned model directory (written by `genpt finetune`, e.g. OUT/best).
    #[arg(long)]
    pub model: PathBuf,
    /// dev (default) or train; test sets are unlabeled, use `genpt predict`.
    #[arg(long, default_value = "dev")]
    pub split: String,
    /// Where metrics.json goes (default: the model directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Output directory; the file is named as the GLUE server expects (e.g. CoLA.tsv).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Tokenizer with the three special tokens, and the task's split, encoded.
fn encoded_split(
    args: &TaskArgs,
    split: Split,
    n_ctx: usize,
    vocab_size: usize,
) -> anyhow::Result<(TaskSpec, Vec<Example>, Vec<EncodedExample>)> {
    let mut tokenizer = genpt_tokenizer::Tokenizer::from_dir(&args.tokenizer)
        .with_context(|| format!("loading the tokenizer from {}", args.tokenizer.display()))?;
    anyhow::ensure!(
        tokenizer.vocab_size() == vocab_size,
        "the tokenizer has {} tokens but the model's vocabulary has {vocab_size}",
        tokenizer.vocab_size()
    );
    let specials = special_ids(&tokenizer.add_special_tokens(&SPECIAL_NAMES));
    let dataset = genpt_tasks::load_task(&args.task, &args.data, split)?;
    if dataset.skipped > 0 {
        eprintln!(
            "{} {split}: {} rows without a gold label left out",
            dataset.task.name, dataset.skipped
        );
    }
    let mut examples = dataset.examples;
    if let Some(limit) = args.limit {
        examples.truncate(limit);
    }
    anyhow::ensure!(
        !examples.is_empty(),
        "{} {split}: no examples in {}",
        dataset.task.name,
        args.data.display()
    );
    let tokenize = |t: &str| tokenizer.encode(t);
    use rayon::prelude::*;
    let encoded = examples
        .par_iter()
        .map(|e| encode_example(e, &dataset.task.kind, &tokenize, specials, n_ctx))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((dataset.task, examples, encoded))
}

pub fn finetune(args: FinetuneArgs) -> anyhow::Result<()> {
    let device = args.backend.device()?.autodiff();
    device.seed(args.seed ^ 0x5eed);
    let gpt = match (args.init.as_str(), &args.model, &args.preset) {
        ("pretrained", Some(dir), _) => {
            let loaded = crate::weights::load_model(dir, &Default::default(), &device)?;
            match args.transfer_layers {
                Some(n) => transfer_layers(loaded, n, &device),
                None => loaded,
            }
        }
        ("random", Some(dir), _) => {
            // The same shape as the pre-trained model, freshly initialised.
            let config =
                crate::weights::load_model(dir, &Default::default(), &device.clone().inner())?
                    .config()
                    .clone();
            crate::Gpt::new(&config, &device)
        }
        ("random", None, Some(preset)) => {
            let tokenizer = genpt_tokenizer::Tokenizer::from_dir(&args.task.tokenizer)?;
            let mut config = crate::GptConfig::preset(preset)
                .with_context(|| format!("unknown preset {preset}"))?;
            config.vocab_size = tokenizer.vocab_size();
            crate::Gpt::new(&config, &device)
        }
        (other, _, _) => {
            anyhow::bail!("--init {other:?}: expected `pretrained` (with --model) or `random`")
        }
    };
    // Special rows are appended unless the model already has them (a fine-tuned starting point).
    let gpt = if gpt.config().n_special >= SPECIAL_NAMES.len() {
        gpt
    } else {
        add_special_rows(gpt, SPECIAL_NAMES.len(), args.seed, &device)
    };
    let gpt = match args.dropout {
        Some(p) => {
            anyhow::ensure!(
                (0.0..1.0).contains(&p),
                "--dropout must be in [0, 1), got {p}"
            );
            with_dropout(gpt, p, &device)
        }
        None => gpt,
    };
    let n_ctx = gpt.config().n_positions;
    let vocab = gpt.config().vocab_size;
    let (spec, _, train) = encoded_split(&args.task, Split::Train, n_ctx, vocab)?;
    let (_, _, dev) = encoded_split(&args.task, Split::Dev, n_ctx, vocab)?;
    let (pooling, outputs) = head_shape(&spec.kind);
    let defaults = FinetuneConfig::for_model(gpt.config());
    let config = FinetuneConfig {
        lr: args.lr.unwrap_or(defaults.lr),
        batch_size: args.batch_size.unwrap_or(defaults.batch_size),
        warmup: args.warmup.unwrap_or(defaults.warmup),
        micro_batch: args.micro_batch,
        epochs: args.epochs,
        lm_coef: args.lm_coef,
        seed: args.seed,
        clf_dropout: args
            .dropout
            .unwrap_or(FinetuneConfig::default().clf_dropout),
        trace_updates: args.trace_updates,
        ..FinetuneConfig::default()
    };
    let model = new_classifier(gpt, pooling, outputs, config.clf_dropout, &device);
    eprintln!(
        "{}: {} training and {} dev examples",
        spec.name,
        train.len(),
        dev.len()
    );
    let selection = |p: &[Prediction]| {
        score(&spec, p, &dev)
            .unwrap_or_else(|e| (f64::NAN, serde_json::json!({ "error": e.to_string() })))
    };
    let outcome = run::finetune(model, &train, &dev, &config, &selection, &args.out, &device)?;
    let summary = serde_json::json!({
        "task": spec.name,
        "init": args.init,
        "lm_coef": args.lm_coef,
        "transfer_layers": args.transfer_layers,
        "seed": args.seed,
        "best_epoch": outcome.best_epoch,
        "best_dev_score": outcome.best_score,
        "history": outcome.history,
        "config": serde_json::to_value(&config)?,
    });
    crate::weights::write_atomic(
        &args.out.join("metrics.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    eprintln!(
        "best dev {}: {:.4} (epoch {}); model in {}",
        headline_metric(&spec),
        outcome.best_score,
        outcome.best_epoch,
        outcome.best_dir.display()
    );
    Ok(())
}

pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let model = run::load(&args.model, &device)?;
    let split: Split = args.split.parse().map_err(anyhow::Error::msg)?;
    let (spec, _, examples) = encoded_split(
        &args.task,
        split,
        model.gpt.config().n_positions,
        model.gpt.config().vocab_size,
    )?;
    let predictions = run::predict(&model, &examples, 16, &device);
    let (_, metrics) = score(&spec, &predictions, &examples)?;
    println!("{metrics}");
    let out = args.out.unwrap_or_else(|| args.model.clone());
    std::fs::create_dir_all(&out)?;
    let record = serde_json::json!({ "task": spec.name, "split": args.split, "examples": examples.len(), "metrics": metrics });
    crate::weights::write_atomic(
        &out.join("metrics.json"),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    Ok(())
}

pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let model = run::load(&args.model, &device)?;
    let split: Split = args.split.parse().map_err(anyhow::Error::msg)?;
    let (spec, examples, encoded) = encoded_split(
        &args.task,
        split,
        model.gpt.config().n_positions,
        model.gpt.config().vocab_size,
    )?;
    let predictions = run::predict(&model, &encoded, 16, &device);
    std::fs::create_dir_all(&args.out)?;
    // GLUE tasks get the file name the GLUE server expects; other tasks TASK.tsv.
    let file = genpt_tasks::glue_file_name(&spec.name)
        .map_or_else(|| format!("{}.tsv", spec.name), str::to_string);
    let path = args.out.join(file);
    let mut text = String::from("index\tprediction\n");
    for (example, prediction) in examples.iter().zip(&predictions) {
        text.push_str(&format!(
            "{}\t{}\n",
            example.id,
            prediction_text(&spec, prediction)
        ));
    }
    crate::weights::write_atomic(&path, text.as_bytes())?;
    eprintln!(
        "{} predictions; wrote {}",
        predictions.len(),
        path.display()
    );
    Ok(())
}
