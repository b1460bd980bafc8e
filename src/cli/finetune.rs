//! `genpt finetune`, `genpt eval` and `genpt predict`: stage two on the paper's tasks.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::BackendArgs;
use crate::finetune::task_bridge::{headline_metric, prediction_text, score};
use crate::finetune::task_data::{self, add_specials, encode_examples, TaskSource};
use crate::finetune::{self as ft, EncodedExample, FinetuneConfig, Prediction};
use crate::model_tokenizer::resolve_tokenizer;
use genpt_tasks::{Columns, CustomKind, Example, Labels, Split, TaskInfo};

#[derive(Args, Debug, Clone)]
pub struct TaskArgs {
    /// cola, sst2, mrpc, stsb, qqp, mnli, mnli-mm, qnli, rte, wnli, ax, snli, scitail, race,
    /// race-middle, race-high, storycloze; or `custom` with --kind, --train and --dev.
    #[arg(long)]
    pub task: String,
    /// A benchmark's data directory (e.g. ../shared/data/glue/CoLA), or a directory holding it
    /// under its usual name (e.g. ../shared/data/glue).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// With --task custom: classification, entailment, similarity, regression or choice.
    #[arg(long, value_parser = |s: &str| s.parse::<CustomKind>())]
    pub kind: Option<CustomKind>,
    /// With --task custom: the labeled training file (.jsonl, .csv or .tsv).
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// With --task custom: the labeled dev file, scored after each epoch to pick the best model.
    #[arg(long)]
    pub dev: Option<PathBuf>,
    /// With --task custom: a test file (labels optional); its predictions go to
    /// OUT/test_predictions.jsonl.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Column (or JSON key) names of your files: `text=review,label=sentiment`. In CSV/TSV,
    /// name one column per choice: `choices=ending1,choices=ending2`.
    #[arg(long)]
    pub columns: Option<String>,
    /// Tokenizer directory (default: the model directory's own vocabulary files).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Use at most this many examples of each split (quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
}

impl TaskArgs {
    fn columns(&self) -> anyhow::Result<Columns> {
        match &self.columns {
            Some(spec) => Columns::parse(spec).map_err(anyhow::Error::msg),
            None => Ok(Columns::default()),
        }
    }
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
    #[arg(long, value_enum, default_value_t = Init::Pretrained)]
    pub init: Init,
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
    /// Continue an interrupted run from the last epoch it completed (OUT/resume/, written after
    /// every epoch); with the same options, it ends as the uninterrupted run would have.
    #[arg(long)]
    pub resume: bool,
    /// Every dropout rate (embedding, attention, residual, classifier); default: the model's own
    /// and 0.1 on the classifier. 0 makes a run deterministic, as the parity script needs.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Write the initial model, the encoded splits and the first N updates under OUT/trace/,
    /// for scripts/finetune_parity.py.
    #[arg(long, default_value_t = 0)]
    pub trace_updates: usize,
    /// `hf` (default): Hugging Face's port, what the parity tests check; `release`: the official
    /// TensorFlow code where it differs (embedding dropout on the whole embedding matrix, LM head
    /// over every row, per-dataset context, dropped last batch, its evaluation schedule; README,
    /// "Fidelity modes").
    #[arg(long, default_value = "hf")]
    pub fidelity: crate::finetune::Fidelity,
    /// fp32 (default) or bf16: the linear layers' and the LM head's products in bf16 with fp32
    /// sums, fp32 master weights (flex on a CPU with AVX512-BF16).
    #[arg(long, default_value = "fp32")]
    pub precision: crate::precision::Precision,
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// The examples `eval` and `predict` read: a benchmark's split, or a file in the task's form.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// A benchmark's data directory (the model's task.json names the task).
    #[arg(long, conflicts_with = "input")]
    pub data: Option<PathBuf>,
    /// A file of examples in the task's form (.jsonl, .csv or .tsv; the fields task.json lists).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Column names, as for finetune (default: those the model was trained with).
    #[arg(long)]
    pub columns: Option<String>,
    /// For models fine-tuned without a task.json: the benchmark's name.
    #[arg(long)]
    pub task: Option<String>,
    /// Tokenizer directory (default: the model directory's own).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Use at most this many examples.
    #[arg(long)]
    pub limit: Option<usize>,
}

/// Where fine-tuning starts.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// The weights of --model.
    Pretrained,
    /// A fresh initialisation of --model's shape (or of --preset's).
    Random,
}

impl Init {
    fn name(self) -> &'static str {
        match self {
            Init::Pretrained => "pretrained",
            Init::Random => "random",
        }
    }
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A fine-tuned model directory (written by `genpt finetune`, e.g. OUT/best).
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// With --data: dev (default) or train; test sets are unlabeled, use `genpt predict`.
    #[arg(long, default_value = "dev")]
    pub split: Split,
    /// Where metrics.json goes (default: the model directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// With --data: the split (default test).
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// With --input: the predictions file (JSONL, one object per input row, in order). With
    /// --data: a directory; the file is named as the GLUE server expects (e.g. CoLA.tsv).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// The task source of `finetune`'s arguments: a benchmark, or the user's files (whose training
/// file defines the task).
fn finetune_source(args: &TaskArgs) -> anyhow::Result<(TaskSource, TaskInfo, Vec<Example>)> {
    if args.task == "custom" {
        let kind: CustomKind = args.kind.context(
            "--task custom needs --kind (classification, entailment, similarity, regression, choice)",
        )?;
        let train = args
            .train
            .as_deref()
            .context("--task custom needs --train FILE")?;
        anyhow::ensure!(args.dev.is_some(), "--task custom needs --dev FILE");
        anyhow::ensure!(
            args.data.is_none(),
            "--data is for benchmark tasks; give --train and --dev files"
        );
        let columns = args.columns()?;
        let (info, examples) = genpt_tasks::custom::read_training(kind, train, &columns)?;
        let source = TaskSource::Files {
            info: info.clone(),
            columns,
        };
        return Ok((source, info, examples));
    }
    for (flag, given) in [
        ("--kind", args.kind.is_some()),
        ("--train", args.train.is_some()),
        ("--dev", args.dev.is_some()),
        ("--test", args.test.is_some()),
        ("--columns", args.columns.is_some()),
    ] {
        anyhow::ensure!(!given, "{flag} is for --task custom (your own files)");
    }
    let data = args
        .data
        .clone()
        .with_context(|| format!("--task {} needs --data DIR", args.task))?;
    let source = TaskSource::Benchmark {
        name: args.task.clone(),
        data,
    };
    let (info, examples) = source.read(Split::Train, None, Labels::Required)?;
    Ok((source, info, examples))
}

fn limited(
    mut examples: Vec<Example>,
    limit: Option<usize>,
    what: &str,
) -> anyhow::Result<Vec<Example>> {
    if let Some(limit) = limit {
        examples.truncate(limit);
    }
    anyhow::ensure!(!examples.is_empty(), "{what}: no examples");
    Ok(examples)
}

pub fn finetune(args: FinetuneArgs) -> anyhow::Result<()> {
    crate::train::in_launched_world(|sync| finetune_in(args, sync))
}

/// `genpt finetune` as one process of a data-parallel run (one process: [`crate::train::LocalSync`]).
fn finetune_in(
    args: FinetuneArgs,
    sync: &mut dyn crate::train::GradientSync,
) -> anyhow::Result<()> {
    let device = args.backend.device()?.autodiff();
    crate::rng::seed(&device, args.seed ^ 0x5eed);
    match (args.init, &args.model, &args.preset) {
        (Init::Pretrained, None, _) => anyhow::bail!(
            "--init pretrained needs --model DIR (or use --init random --preset NAME)"
        ),
        (Init::Random, None, None) => {
            anyhow::bail!("--init random needs --model DIR (its shape) or --preset NAME")
        }
        _ => {}
    }
    let (mut tokenizer, tokenizer_dir) =
        resolve_tokenizer(args.task.tokenizer.as_deref(), args.model.as_deref())?;
    let start = match (args.init, &args.model, &args.preset) {
        (Init::Pretrained, Some(dir), _) => ft::prepare::Start::Pretrained {
            model: dir,
            transfer_layers: args.transfer_layers,
        },
        // The same shape as the pre-trained model, freshly initialised.
        (Init::Random, Some(dir), _) => ft::prepare::Start::Random(
            crate::weights::load_model(dir, &Default::default(), &device.clone().inner())?
                .config()
                .clone(),
        ),
        (Init::Random, None, Some(preset)) => {
            let mut config = crate::GptConfig::preset(preset)
                .with_context(|| format!("unknown preset {preset}"))?;
            config.vocab_size = tokenizer.vocab_size();
            ft::prepare::Start::Random(config)
        }
        (_, None, _) => unreachable!("refused above"),
    };
    let gpt = ft::prepare::decoder(&start, args.seed, args.dropout, &device)?;
    let n_ctx = gpt.config().n_positions;
    let specials = add_specials(&mut tokenizer, gpt.config().vocab_size)?;
    let (source, info, train) = finetune_source(&args.task)?;
    let train = limited(train, args.task.limit, "training")?;
    let (_, dev) = source.read(Split::Dev, args.task.dev.as_deref(), Labels::Required)?;
    let dev = limited(dev, args.task.limit, "dev")?;
    // The test split: the user's --test file, predicted after training; and under the release
    // fidelity the benchmark's test split where there is one, whose longest example the
    // context must cover (the release sets n_ctx over every split).
    let recipe = args.fidelity.recipe();
    let test = match (&args.task.test, recipe.dataset_context) {
        (Some(file), _) => {
            let (_, examples) = source.read(Split::Test, Some(file), Labels::Optional)?;
            limited(examples, args.task.limit, "test")?
        }
        (None, true) => {
            let mut examples = source
                .read(Split::Test, None, Labels::Optional)
                .map_or_else(|_| Vec::new(), |(_, examples)| examples);
            examples.truncate(args.task.limit.unwrap_or(usize::MAX));
            examples
        }
        (None, false) => Vec::new(),
    };
    let spec = info.to_spec();
    let train = encode_examples(&tokenizer, specials, &info, &train, n_ctx)?;
    let dev = encode_examples(&tokenizer, specials, &info, &dev, n_ctx)?;
    let encoded_test = encode_examples(&tokenizer, specials, &info, &test, n_ctx)?;
    let config = FinetuneConfig {
        micro_batch: args.micro_batch,
        epochs: args.epochs,
        lm_coef: args.lm_coef,
        seed: args.seed,
        trace_updates: args.trace_updates,
        fidelity: args.fidelity,
        precision: args.precision,
        ..FinetuneConfig::for_model(gpt.config())
    }
    .with_overrides(args.lr, args.batch_size, args.warmup, args.dropout);
    let model = ft::prepare::classifier(
        gpt,
        &spec.kind,
        config.clf_dropout,
        config.fidelity,
        &[&train, &dev, &encoded_test],
        &device,
    );
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
    let attach = |dir: &std::path::Path| task_data::attach(dir, &info, &tokenizer_dir);
    let job = ft::FinetuneJob {
        train: &train,
        dev: &dev,
        config: &config,
        evaluate: &selection,
        attach: &attach,
        out: &args.out,
        device: &device,
    };
    let outcome = ft::finetune_with(model, &job, sync, args.resume)?;
    if !sync.is_leader() {
        return Ok(());
    }
    let summary = serde_json::json!({
        "task": spec.name,
        "init": args.init.name(),
        "lm_coef": args.lm_coef,
        "transfer_layers": args.transfer_layers,
        "seed": args.seed,
        "best_epoch": outcome.best_epoch,
        "best_dev_score": outcome.best_score,
        "history": outcome.history,
        "config": serde_json::to_value(&config)?,
        "genpt_commits": outcome.commits,
    });
    crate::files::write_atomic(
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
    if args.task.test.is_some() {
        let inference = device.clone().inner();
        let model = ft::load(&outcome.best_dir, &inference)?;
        let predictions = ft::predict(&model, &encoded_test, 16, &inference);
        write_predictions(
            &info,
            &test,
            &predictions,
            &args.out.join("test_predictions.jsonl"),
        )?;
    }
    Ok(())
}

/// One JSON object per example, in input order (`task_data::prediction_json`).
fn write_predictions(
    info: &TaskInfo,
    examples: &[Example],
    predictions: &[Prediction],
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let mut text = String::new();
    for (example, prediction) in examples.iter().zip(predictions) {
        text.push_str(&task_data::prediction_json(info, example, prediction).to_string());
        text.push('\n');
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    crate::files::write_atomic(path, text.as_bytes())?;
    eprintln!(
        "{} predictions; wrote {}",
        predictions.len(),
        path.display()
    );
    Ok(())
}

/// A fine-tuned model with its task, and the examples `eval` or `predict` was asked for,
/// encoded with the model's tokenizer.
struct Loaded {
    model: crate::finetune::classifier::Classifier,
    info: TaskInfo,
    examples: Vec<Example>,
    encoded: Vec<EncodedExample>,
}

fn load_for(
    model_dir: &std::path::Path,
    input: &InputArgs,
    split: Split,
    labels: Labels,
    device: &burn::tensor::Device,
) -> anyhow::Result<Loaded> {
    let model = ft::load(model_dir, device)?;
    let info = match (&input.task, TaskInfo::load(model_dir)) {
        (None, Ok(info)) => info,
        (Some(name), Ok(info)) => {
            anyhow::ensure!(
                *name == info.task,
                "--task {name}, but {} was fine-tuned on {}",
                model_dir.display(),
                info.task
            );
            info
        }
        (Some(name), Err(_)) => TaskInfo::from_spec(
            &genpt_tasks::task_spec(name)
                .ok_or_else(|| genpt_tasks::TaskError::UnknownTask(name.clone()))?,
        ),
        (None, Err(_)) => task_data::model_task(model_dir)?,
    };
    let columns = match &input.columns {
        Some(spec) => Columns::parse(spec).map_err(anyhow::Error::msg)?,
        None => Columns(info.columns.clone()),
    };
    let source = match (&input.data, &input.input) {
        (Some(data), None) => {
            anyhow::ensure!(
                info.task != "custom",
                "{} was fine-tuned on your own files: give --input FILE, not --data",
                model_dir.display()
            );
            TaskSource::Benchmark {
                name: info.task.clone(),
                data: data.clone(),
            }
        }
        (None, Some(_)) if info.task == "custom" => TaskSource::Files {
            info: info.clone(),
            columns,
        },
        (None, Some(_)) => TaskSource::Benchmark {
            name: info.task.clone(),
            data: std::path::PathBuf::new(),
        },
        _ => anyhow::bail!("give --input FILE (or, for a benchmark, --data DIR)"),
    };
    let (_, examples) = source.read(split, input.input.as_deref(), labels)?;
    let examples = limited(examples, input.limit, "input")?;
    let (mut tokenizer, _) = resolve_tokenizer(input.tokenizer.as_deref(), Some(model_dir))?;
    let specials = add_specials(&mut tokenizer, model.gpt.config().vocab_size)?;
    let encoded = encode_examples(
        &tokenizer,
        specials,
        &info,
        &examples,
        model.gpt.config().n_positions,
    )?;
    Ok(Loaded {
        model,
        info,
        examples,
        encoded,
    })
}

pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let loaded = load_for(
        &args.model,
        &args.input,
        args.split,
        Labels::Required,
        &device,
    )?;
    let predictions = ft::predict(&loaded.model, &loaded.encoded, 16, &device);
    let (_, metrics) = score(&loaded.info.to_spec(), &predictions, &loaded.encoded)?;
    println!("{metrics}");
    let out = args.out.unwrap_or_else(|| args.model.clone());
    std::fs::create_dir_all(&out)?;
    let split_name = match &args.input.input {
        Some(file) => file.display().to_string(),
        None => args.split.to_string(),
    };
    let record = serde_json::json!({
        "task": loaded.info.task,
        "split": split_name,
        "examples": loaded.examples.len(),
        "metrics": metrics,
    });
    crate::files::write_atomic(
        &out.join("metrics.json"),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    Ok(())
}

pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let loaded = load_for(
        &args.model,
        &args.input,
        args.split,
        Labels::Optional,
        &device,
    )?;
    let predictions = ft::predict(&loaded.model, &loaded.encoded, 16, &device);
    if args.input.input.is_some() {
        return write_predictions(&loaded.info, &loaded.examples, &predictions, &args.out);
    }
    let spec = loaded.info.to_spec();
    std::fs::create_dir_all(&args.out)?;
    // GLUE tasks get the file name the GLUE server expects; other tasks TASK.tsv.
    let file = genpt_tasks::glue_file_name(&spec.name)
        .map_or_else(|| format!("{}.tsv", spec.name), str::to_string);
    let path = args.out.join(file);
    let mut text = String::from("index\tprediction\n");
    for (example, prediction) in loaded.examples.iter().zip(&predictions) {
        text.push_str(&format!(
            "{}\t{}\n",
            example.id,
            prediction_text(&spec, prediction)
        ));
    }
    crate::files::write_atomic(&path, text.as_bytes())?;
    eprintln!(
        "{} predictions; wrote {}",
        predictions.len(),
        path.display()
    );
    Ok(())
}
