//! The GPT-1 / GPT-2 decoder-only Transformer.

pub mod gpt;
pub mod layers;

pub use gpt::{pack_host_bf16, Gpt, GptOutput, KvCache, RELEASED_FOR_BF16};
