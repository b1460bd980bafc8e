//! `genpt zeroshot`: the paper's zero-shot heuristics (section 5) on a pre-trained model.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{BackendArgs, ModelArgs};
use crate::zeroshot::{LmScorer, ZeroShotTask};

#[derive(Args, Debug)]
pub struct ZeroshotArgs {
    /// cola, sst2, race, race-middle, race-high, storycloze (the 374 stories fine-tuning holds
    /// out), storycloze-all (all 1,871 validation stories), dpr (Winograd: Definite Pronoun
    /// Resolution) or wsc (the Winograd Schema Challenge's WSCollection.xml).
    #[arg(long)]
    pub task: String,
    /// The task's data directory, as for `genpt finetune` (dpr: dpr_test.c.txt or its directory;
    /// wsc: WSCollection.xml or its directory).
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Tokenizer directory (GPT-1 or GPT-2 vocabulary files); default: the model directory's own.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// At most this many examples per split.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Where per-example scores go (zeroshot-TASK.jsonl); default: the current directory.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    #[command(flatten)]
    pub precision: super::InferencePrecisionArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

pub fn run(args: ZeroshotArgs) -> anyhow::Result<()> {
    let device = args.backend.device()?;
    let (model, tokenizer) = super::load_model_and_tokenizer(
        &args.model,
        &args.precision,
        args.tokenizer.as_deref(),
        &device,
    )?;
    let task = ZeroShotTask::load(&args.task, &args.data, &tokenizer, args.limit)?;
    let result = task.evaluate(&LmScorer { model: &model });
    std::fs::create_dir_all(&args.out)?;
    let path = args.out.join(format!("zeroshot-{}.jsonl", args.task));
    let mut log = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for record in &result.per_example {
        writeln!(log, "{record}")?;
    }
    log.flush()?;
    println!("{}", result.summary());
    Ok(())
}
