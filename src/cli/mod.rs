//! Command-line interface: argument definitions and dispatch. One file per subcommand.

mod convert;
mod demo;
mod finetune;
mod generate;
mod info;
mod lm_eval;
mod prepare;
mod pretrain;
mod serve;
mod tokenize;
mod zeroshot;

mod score;
pub use score::score_ids;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "genpt",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("GENPT_COMMIT"), ")"),
    about = "GPT-1 (Radford et al., 2018) in Rust: tokenize, pre-train, fine-tune, evaluate"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size of the largest variant's arguments does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The whole method on built-in generated data, in minutes: tokenizer, pre-training,
    /// fine-tuning with and without pre-training, zero-shot, a sample.
    Demo(demo::DemoArgs),
    /// Show a model's configuration, parameter count and memory estimate.
    Info(info::InfoArgs),
    /// Log-probability of each next token of a sequence, as JSON.
    Score(score::ScoreArgs),
    /// Fine-tune a pre-trained model on a task (paper, section 3.2).
    Finetune(finetune::FinetuneArgs),
    /// Evaluate a fine-tuned model on a labeled split; writes metrics.json.
    Eval(finetune::EvalArgs),
    /// Predict a split, in the GLUE submission format.
    Predict(finetune::PredictArgs),
    /// Sample a continuation of a prompt.
    Generate(generate::GenerateArgs),
    /// Convert weights between the Hugging Face and the official release's layouts.
    Convert(convert::ConvertArgs),
    /// Tokenize raw text files into token shards for pre-training.
    Prepare(prepare::PrepareArgs),
    /// Generative pre-training on prepared token shards.
    Pretrain(pretrain::PretrainArgs),
    /// Tokenize JSONL lines with the GPT-1 pipeline.
    Tokenize(tokenize::TokenizeArgs),
    /// The paper's zero-shot heuristics on a pre-trained model.
    Zeroshot(zeroshot::ZeroshotArgs),
    /// Bits per byte and last-word accuracy on held-out text (the GPT-2 paper's LM evaluation).
    LmEval(lm_eval::LmEvalArgs),
    /// Serve the language model and fine-tuned classifiers over HTTP (OpenAI-style API).
    Serve(serve::ServeArgs),
    /// Tokenizer tools.
    #[command(subcommand)]
    Tokenizer(tokenize::TokenizerCommand),
}

/// Where tensors are computed.
#[derive(Args, Debug, Clone)]
pub struct BackendArgs {
    /// Tensor backend: flex (default CPU), ndarray (CPU, for cross-checks); GPUs, as built:
    /// wgpu (WGSL kernels) and vulkan (SPIR-V kernels), each bare (wgpu's pick), :N (the N-th
    /// discrete GPU) or :cpu (a CPU driver such as Mesa's lavapipe), and cuda[:N].
    #[arg(long, default_value = "flex")]
    pub backend: String,
}

impl BackendArgs {
    pub fn device(&self) -> anyhow::Result<burn::tensor::Device> {
        genpt_device(&self.backend)
    }
}

fn genpt_device(name: &str) -> anyhow::Result<burn::tensor::Device> {
    crate::device::device(name).map_err(anyhow::Error::msg)
}

/// The arithmetic of inference commands.
#[derive(Args, Debug, Clone)]
pub struct InferencePrecisionArgs {
    /// fp32 (default) or bf16: the linear layers' and the output layer's weights rounded to
    /// bf16 once, products with fp32 sums (half the weight bytes per token; flex on a CPU with
    /// AVX512-BF16, or with AVX2 and FMA, where each weight is widened to fp32 as it is read).
    #[arg(long, default_value = "fp32")]
    pub precision: crate::precision::Precision,
}

/// The language model of an inference command (`generate`, `lm-eval`, `zeroshot`) at its
/// precision, with its tokenizer (`tokenizer`, else the model directory's own), checked to agree.
pub fn load_model_and_tokenizer(
    model: &ModelArgs,
    precision: &InferencePrecisionArgs,
    tokenizer: Option<&std::path::Path>,
    device: &burn::tensor::Device,
) -> anyhow::Result<(crate::Gpt, genpt_tokenizer::Tokenizer)> {
    let gpt = precision.load(model, device)?;
    let (tokenizer, _) = crate::model_tokenizer::resolve_tokenizer(tokenizer, Some(&model.model))?;
    crate::model_tokenizer::check_vocabulary(&tokenizer, &gpt)?;
    Ok((gpt, tokenizer))
}

impl InferencePrecisionArgs {
    /// The model of `model` loaded at this precision (an error where the CPU or backend cannot
    /// do it): [`crate::precision::Precision::load_model`].
    pub fn load(
        &self,
        model: &ModelArgs,
        device: &burn::tensor::Device,
    ) -> anyhow::Result<crate::Gpt> {
        self.precision
            .load_model(&model.model, &model.options(), device)
    }
}

/// A model directory, in either supported layout.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model directory: Hugging Face (config.json + model.safetensors) or the official
    /// release (params_shapes.json + params_*.npy).
    #[arg(long)]
    pub model: PathBuf,
    /// Attention heads, for the official release's layout whose files do not record it.
    #[arg(long, default_value_t = 12)]
    pub n_head: usize,
}

impl ModelArgs {
    pub fn options(&self) -> crate::weights::LoadOptions {
        crate::weights::LoadOptions {
            n_head: self.n_head,
        }
    }

    pub fn load(&self, device: &burn::tensor::Device) -> anyhow::Result<crate::Gpt> {
        Ok(crate::weights::load_model(
            &self.model,
            &self.options(),
            device,
        )?)
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Info(args) => info::run(args),
        Command::Score(args) => score::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Finetune(args) => finetune::finetune(args),
        Command::Eval(args) => finetune::eval(args),
        Command::Predict(args) => finetune::predict(args),
        Command::Prepare(args) => prepare::run(args),
        Command::Pretrain(args) => pretrain::run(args),
        Command::Tokenize(args) => tokenize::run(args),
        Command::Tokenizer(command) => tokenize::run_tokenizer(command),
        Command::Zeroshot(args) => zeroshot::run(args),
        Command::LmEval(args) => lm_eval::run(args),
        Command::Serve(args) => serve::run(args),
    }
}
