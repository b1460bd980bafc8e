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

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, then fsync
/// of the directory, so that a crash leaves either the old file or the new one, never half.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), WeightsError> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| WeightsError::io(path, e))
}
