//! genpt: OpenAI's GPT-1 (Radford et al., 2018, *Improving Language Understanding by
//! Generative Pre-Training*) in Rust.

pub mod cli;
pub mod config;
pub mod data;
pub mod demo;
pub mod device;
pub mod finetune;
pub mod generate;
pub mod loss;
pub mod metrics_log;
pub mod model;
pub mod plot;
pub mod pretrain;
pub mod progress;
pub mod train;
pub mod weights;
pub mod zeroshot;

pub use config::GptConfig;
pub use model::Gpt;

/// The shared data directory (`$GENPT_SHARED`, else `../shared` from the crate root), if it
/// exists. Tests and benchmarks that need it skip with a printed reason when it is absent.
pub fn shared_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("GENPT_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    dir.is_dir().then_some(dir)
}
