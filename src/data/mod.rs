//! Corpus data for pre-training: token shards on disk and the window sampler over them.

pub mod corpus;
pub mod sampler;
pub mod shards;
