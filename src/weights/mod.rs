//! Reading and writing model weights: Hugging Face `openai-gpt` and `gpt2` directories and the
//! official GPT-1 release's `params_*.npy` files.

pub mod hf;
pub mod named;
pub mod npy;
pub mod openai;

use std::path::PathBuf;

pub use named::{export, import, HostTensor, NamedTensors};

/// Why a checkpoint could not be read or written. Every variant names what it was looking at.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("tensor {name}: missing from the checkpoint")]
    Missing { name: String },
    #[error("tensor {name}: expected shape {expected:?}, found {found:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor {name}: not part of this model (is the checkpoint another architecture?)")]
    Unexpected { name: String },
    #[error("tensor {name}: value {index} is not finite")]
    NonFinite { name: String, index: usize },
}

impl WeightsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Reads a model from `dir`, whichever of the supported layouts it holds.
pub fn load_model(
    dir: &std::path::Path,
    options: &LoadOptions,
    device: &burn::tensor::Device,
) -> Result<crate::Gpt, WeightsError> {
    if dir.join("config.json").exists() {
        hf::load(dir, device)
    } else if dir.join(openai::SHAPES_FILE).exists() {
        openai::load(dir, options.n_head, device)
    } else {
        Err(WeightsError::format(
            dir,
            format!(
                "not a model directory: expected config.json + model.safetensors (Hugging Face) \
                 or {} + params_0.npy ... (the official release)",
                openai::SHAPES_FILE
            ),
        ))
    }
}

/// What a weight file cannot say about itself.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Attention heads for the official release's files, whose shapes do not record it.
    pub n_head: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { n_head: 12 }
    }
}

impl From<crate::files::WriteError> for WeightsError {
    fn from(e: crate::files::WriteError) -> Self {
        Self::io(e.path, e.source)
    }
}
