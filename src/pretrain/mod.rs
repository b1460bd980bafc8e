//! Stage one of the method (paper, section 3.1): generative pre-training on contiguous text.

pub mod checkpoint;
pub mod config;
pub mod run;

pub use config::RunConfig;
pub use run::{pretrain, pretrain_with, RunOutcome};
