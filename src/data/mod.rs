//! Corpus data for pre-training: token shards on disk, the window sampler over them, and
//! training a vocabulary for a new corpus.

pub mod corpus;
pub mod sampler;
pub mod shards;
pub mod vocabulary;
