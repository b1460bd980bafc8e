//! The GPT-1 / GPT-2 decoder-only Transformer.

pub mod gpt;
pub mod layers;

pub use gpt::{Gpt, GptOutput, KvCache};
