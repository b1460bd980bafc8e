//! `genpt zeroshot`: the paper's zero-shot heuristics (section 5) on a pre-trained model.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{BackendArgs, ModelArgs};
use crate::tasks::{self, metrics, Input, Label, Split};
use crate::zeroshot::{self, LmScorer};

#[derive(Args, Debug)]
pub struct ZeroshotArgs {
    /// cola, sst2, storycloze or dpr (Winograd: Definite Pronoun Resolution).
    #[arg(long)]
    pub task: String,
    /// The task's data directory (for dpr: the directory of dpr_train.c.txt / dpr_test.c.txt).
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// At most this many examples per split.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Where per-example scores go (zeroshot-TASK.jsonl); default: the current directory.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    #[command(flatten)]
    pub backend: BackendArgs,
}

pub fn run(args: ZeroshotArgs) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let model = args.model.load(&device)?;
    let tokenizer = genpt_tokenizer::Tokenizer::from_dir(&args.tokenizer)?;
    anyhow::ensure!(
        tokenizer.vocab_size() == model.config().vocab_size,
        "the tokenizer has {} tokens but the model predicts {}",
        tokenizer.vocab_size(),
        model.config().vocab_size
    );
    let scorer = LmScorer { model: &model };
    let enc = |t: &str| tokenizer.encode(t);
    let limit = |mut v: Vec<tasks::Example>| {
        if let Some(n) = args.limit {
            v.truncate(n);
        }
        v
    };
    std::fs::create_dir_all(&args.out)?;
    let mut log = std::io::BufWriter::new(std::fs::File::create(args.out.join(format!("zeroshot-{}.jsonl", args.task)))?);
    let class = |e: &tasks::Example| match e.label {
        Some(Label::Class(c)) => c,
        _ => usize::MAX,
    };
    let single = |e: &tasks::Example| match &e.input {
        Input::Single(t) => t.clone(),
        _ => String::new(),
    };
    let result = match args.task.as_str() {
        "cola" => {
            let (_, train) = tasks::load("cola", &args.data, Split::Train)?;
            let (_, dev) = tasks::load("cola", &args.data, Split::Dev)?;
            let (train, dev) = (limit(train), limit(dev));
            let score = |e: &tasks::Example| zeroshot::cola_score(&scorer, &enc(&single(e)));
            let train_scores: Vec<f64> = train.iter().map(score).collect();
            let threshold = zeroshot::best_threshold(&train_scores, &train.iter().map(|e| class(e) == 1).collect::<Vec<_>>());
            let mut predicted = Vec::new();
            for e in &dev {
                let s = score(e);
                predicted.push(usize::from(s >= threshold));
                writeln!(log, "{}", serde_json::json!({"id": e.id, "mean_logprob": s, "label": class(e)}))?;
            }
            let gold: Vec<usize> = dev.iter().map(class).collect();
            serde_json::json!({"task": "cola", "threshold": threshold, "mcc": metrics::mcc(&predicted, &gold), "accuracy": metrics::accuracy(&predicted, &gold)})
        }
        "sst2" => {
            let (_, dev) = tasks::load("sst2", &args.data, Split::Dev)?;
            let dev = limit(dev);
            let (positive, negative) = (enc("positive"), enc("negative"));
            let mut predicted = Vec::new();
            for e in &dev {
                let context = enc(&format!("{} very", single(e)));
                let p = zeroshot::sst2_predict(&scorer, &context, &positive, &negative);
                predicted.push(p);
                writeln!(log, "{}", serde_json::json!({"id": e.id, "predicted": p, "label": class(e)}))?;
            }
            let gold: Vec<usize> = dev.iter().map(class).collect();
            serde_json::json!({"task": "sst2", "accuracy": metrics::accuracy(&predicted, &gold)})
        }
        "storycloze" => {
            let (_, dev) = tasks::load("storycloze", &args.data, Split::Dev)?;
            let dev = limit(dev);
            let mut predicted = Vec::new();
            for e in &dev {
                let Input::Choices { context, answers } = &e.input else { continue };
                let answers: Vec<Vec<u32>> = answers.iter().map(|a| enc(a)).collect();
                let p = zeroshot::choose_answer(&scorer, &enc(context), &answers);
                predicted.push(p);
                writeln!(log, "{}", serde_json::json!({"id": e.id, "predicted": p, "label": class(e)}))?;
            }
            let gold: Vec<usize> = dev.iter().map(class).collect();
            serde_json::json!({"task": "storycloze", "accuracy": metrics::accuracy(&predicted, &gold)})
        }
        "dpr" => {
            let path = args.data.join("dpr_test.c.txt");
            let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let mut examples = zeroshot::parse_dpr(&text, &path.display().to_string()).map_err(anyhow::Error::msg)?;
            if let Some(n) = args.limit {
                examples.truncate(n);
            }
            let mut correct = 0;
            for (i, e) in examples.iter().enumerate() {
                let candidates: Vec<(Vec<u32>, Vec<u32>)> = (0..e.candidates.len())
                    .filter_map(|c| e.substitute(c))
                    .map(|(prefix, rest)| (enc(&prefix), enc(&rest)))
                    .collect();
                let p = zeroshot::winograd_choose(&scorer, &candidates);
                correct += usize::from(p == e.answer);
                writeln!(log, "{}", serde_json::json!({"id": i, "predicted": p, "label": e.answer}))?;
            }
            serde_json::json!({"task": "dpr", "accuracy": correct as f64 / examples.len().max(1) as f64})
        }
        other => anyhow::bail!("zero-shot task {other:?}: expected cola, sst2, storycloze or dpr (RACE needs its data, not available here)"),
    };
    log.flush()?;
    println!("{result}");
    Ok(())
}
