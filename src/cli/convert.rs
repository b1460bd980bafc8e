//! `genpt convert`: between Hugging Face `openai-gpt` directories and the official layout.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::ModelArgs;

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum Layout {
    /// config.json + model.safetensors, readable by transformers.
    Hf,
    /// params_shapes.json + params_0..9.npy, as openai/finetune-transformer-lm ships.
    Openai,
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Output layout.
    #[arg(long, value_enum)]
    pub to: Layout,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let device = crate::device::device("flex").map_err(anyhow::Error::msg)?;
    let model = args.model.load(&device)?;
    match args.to {
        Layout::Hf => crate::weights::hf::save(&model, &args.out)?,
        Layout::Openai => {
            if model.config().n_special > 0 {
                eprintln!(
                    "note: the official layout has no place for the {} special-token rows; they are left out",
                    model.config().n_special
                );
            }
            crate::weights::openai::save(&model, &args.out)?
        }
    }
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
