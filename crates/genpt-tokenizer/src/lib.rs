//! The GPT-1 text pipeline. See the crate description.
