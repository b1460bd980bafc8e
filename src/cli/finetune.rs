//! `genpt finetune`, `genpt eval` and `genpt predict`: stage two on the paper's tasks.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::BackendArgs;
use crate::finetune::model::{add_special_rows, new_classifier, transfer_layers};
use crate::finetune::run::{self, EncodedExample, FinetuneConfig, Prediction, Target};
use crate::finetune::Pooling;
use crate::tasks::transform::{self, SpecialTokens, SPECIAL_NAMES};
use crate::tasks::{self, metrics, Kind, Split, TaskSpec};

#[derive(Args, Debug, Clone)]
pub struct TaskArgs {
    /// cola, sst2, mrpc, stsb, qqp, mnli, mnli-mm, qnli, rte, wnli, storycloze.
    #[arg(long)]
    pub task: String,
    /// The task's data directory (e.g. ../shared/data/glue/CoLA).
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
    #[arg(long, default_value_t = 6.25e-5)]
    pub lr: f64,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Examples per forward pass; gradients accumulate up to --batch-size.
    #[arg(long, default_value_t = 8)]
    pub micro_batch: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
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

/// How a task kind maps onto the head.
fn head_shape(spec: &TaskSpec) -> (Pooling, usize) {
    match spec.kind {
        Kind::Classification | Kind::Entailment => (Pooling::Single, spec.labels.len()),
        Kind::Similarity { regression: true } => (Pooling::SumOrderings, 1),
        Kind::Similarity { regression: false } => (Pooling::SumOrderings, spec.labels.len()),
        Kind::MultipleChoice { .. } => (Pooling::PerChoiceScore, 1),
    }
}

/// Tokenizer with the three special tokens, and the task's split, encoded.
fn encoded_split(
    args: &TaskArgs,
    split: Split,
    n_ctx: usize,
    vocab_size: usize,
) -> anyhow::Result<(&'static TaskSpec, Vec<tasks::Example>, Vec<EncodedExample>)> {
    let mut tokenizer = genpt_tokenizer::Tokenizer::from_dir(&args.tokenizer)
        .with_context(|| format!("loading the tokenizer from {}", args.tokenizer.display()))?;
    anyhow::ensure!(
        tokenizer.vocab_size() == vocab_size,
        "the tokenizer has {} tokens but the model's vocabulary has {vocab_size}",
        tokenizer.vocab_size()
    );
    let ids = tokenizer.add_special_tokens(&SPECIAL_NAMES);
    let specials = SpecialTokens { start: ids[0], delimiter: ids[1], classify: ids[2] };
    let (spec, mut examples) = tasks::load(&args.task, &args.data, split)?;
    if let Some(limit) = args.limit {
        examples.truncate(limit);
    }
    let texts_encode = |t: &str| tokenizer.encode(t);
    use rayon::prelude::*;
    let encoded = examples.par_iter().map(|e| transform::encode(e, spec.kind, &texts_encode, &specials, n_ctx)).collect();
    Ok((spec, examples, encoded))
}

/// Scores predictions against gold labels with the task's metrics: (model-selection score, JSON).
fn score(spec: &TaskSpec, predictions: &[Prediction], gold: &[EncodedExample]) -> (f64, serde_json::Value) {
    let mut out = serde_json::Map::new();
    let values: Vec<(String, f64)> = match spec.kind {
        Kind::Similarity { regression: true } => {
            let p: Vec<f64> = predictions.iter().map(|p| if let Prediction::Score(s) = p { *s as f64 } else { f64::NAN }).collect();
            let g: Vec<f64> = gold.iter().map(|e| if let Some(Target::Score(s)) = e.target { s as f64 } else { f64::NAN }).collect();
            vec![("pearson".into(), metrics::pearson(&p, &g)), ("spearman".into(), metrics::spearman(&p, &g))]
        }
        _ => {
            let p: Vec<usize> = predictions.iter().map(|p| if let Prediction::Class { index, .. } = p { *index } else { usize::MAX }).collect();
            let g: Vec<usize> = gold.iter().map(|e| if let Some(Target::Class(c)) = e.target { c } else { usize::MAX }).collect();
            metrics::classification_metrics(spec.metrics, &p, &g)
        }
    };
    for (name, value) in &values {
        out.insert(name.clone(), (*value).into());
    }
    let glue = metrics::glue_task_score(&values);
    out.insert("task_score".into(), glue.into());
    (values[0].1, serde_json::Value::Object(out))
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
            let config = crate::weights::load_model(dir, &Default::default(), &device.clone().inner())?.config().clone();
            crate::Gpt::new(&config, &device)
        }
        ("random", None, Some(preset)) => {
            let tokenizer = genpt_tokenizer::Tokenizer::from_dir(&args.task.tokenizer)?;
            let mut config = crate::GptConfig::preset(preset).with_context(|| format!("unknown preset {preset}"))?;
            config.vocab_size = tokenizer.vocab_size();
            crate::Gpt::new(&config, &device)
        }
        (other, _, _) => anyhow::bail!("--init {other:?}: expected `pretrained` (with --model) or `random`"),
    };
    // Special rows are appended unless the model already has them (a fine-tuned starting point).
    let gpt = if gpt.config().n_special >= SPECIAL_NAMES.len() { gpt } else { add_special_rows(gpt, SPECIAL_NAMES.len(), args.seed, &device) };
    let n_ctx = gpt.config().n_positions;
    let vocab = gpt.config().vocab_size;
    let (spec, _, train) = encoded_split(&args.task, Split::Train, n_ctx, vocab)?;
    let (_, _, dev) = encoded_split(&args.task, Split::Dev, n_ctx, vocab)?;
    let (pooling, outputs) = head_shape(spec);
    let config = FinetuneConfig {
        lr: args.lr,
        batch_size: args.batch_size,
        micro_batch: args.micro_batch,
        epochs: args.epochs,
        lm_coef: args.lm_coef,
        seed: args.seed,
        ..FinetuneConfig::default()
    };
    let model = new_classifier(gpt, pooling, outputs, config.clf_dropout, &device);
    eprintln!("{}: {} training and {} dev examples", spec.name, train.len(), dev.len());
    let outcome = run::finetune(model, &train, &dev, &config, &|p: &[Prediction]| score(spec, p, &dev), &args.out, &device)?;
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
    crate::weights::write_atomic(&args.out.join("metrics.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    eprintln!("best dev {}: {:.4} (epoch {}); model in {}", spec.metrics[0], outcome.best_score, outcome.best_epoch, outcome.best_dir.display());
    Ok(())
}

pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let model = run::load(&args.model, &device)?;
    let split: Split = args.split.parse().map_err(anyhow::Error::msg)?;
    let (spec, _, examples) = encoded_split(&args.task, split, model.gpt.config().n_positions, model.gpt.config().vocab_size)?;
    let predictions = run::predict(&model, &examples, 16, &device);
    let (_, metrics) = score(spec, &predictions, &examples);
    println!("{metrics}");
    let out = args.out.unwrap_or_else(|| args.model.clone());
    std::fs::create_dir_all(&out)?;
    let record = serde_json::json!({ "task": spec.name, "split": args.split, "examples": examples.len(), "metrics": metrics });
    crate::weights::write_atomic(&out.join("metrics.json"), serde_json::to_string_pretty(&record)?.as_bytes())?;
    Ok(())
}

pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let model = run::load(&args.model, &device)?;
    let split: Split = args.split.parse().map_err(anyhow::Error::msg)?;
    let (spec, examples, encoded) = encoded_split(&args.task, split, model.gpt.config().n_positions, model.gpt.config().vocab_size)?;
    let predictions = run::predict(&model, &encoded, 16, &device);
    std::fs::create_dir_all(&args.out)?;
    let file = spec.submission_file.map(str::to_string).unwrap_or_else(|| format!("{}.tsv", spec.name));
    let path: &Path = &args.out.join(file);
    let mut text = String::from("index\tprediction\n");
    for (example, prediction) in examples.iter().zip(&predictions) {
        let value = match prediction {
            Prediction::Score(s) => format!("{:.3}", s.clamp(0.0, 5.0)),
            Prediction::Class { index, .. } => spec.labels.get(*index).map_or(index.to_string(), |l| l.to_string()),
        };
        text.push_str(&format!("{}\t{value}\n", example.id));
    }
    crate::weights::write_atomic(path, text.as_bytes())?;
    eprintln!("{} predictions; wrote {}", predictions.len(), path.display());
    Ok(())
}
