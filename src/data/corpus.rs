//! A prepared corpus directory (written by `genpt prepare`): `meta.json` and the token shards
//! of each split.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::shards::{Shard, ShardError};

pub const META_FILE: &str = "meta.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusMeta {
    pub format: String,
    pub vocab_size: usize,
    /// Fingerprint of the tokenizer that made every shard.
    pub fingerprint: u64,
    pub train: SplitMeta,
    pub validation: SplitMeta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMeta {
    pub shards: Vec<String>,
    pub documents: Vec<String>,
    pub tokens: u64,
    /// UTF-8 bytes of the text the tokens encode, for bits per byte (absent from corpora
    /// prepared before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
pub enum Split {
    Train,
    Validation,
}

impl CorpusMeta {
    pub fn read(dir: &Path) -> Result<Self, ShardError> {
        let path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ShardError::Io {
            path: path.clone(),
            source: e,
        })?;
        serde_json::from_str(&text).map_err(|e| ShardError::Invalid {
            path,
            message: format!(
                "not a genpt corpus description ({e}); run `genpt prepare` to make one"
            ),
        })
    }

    /// Opens the shards of `split`, checking each against this corpus's tokenizer and vocabulary,
    /// and, with `verify`, its body ([`Shard::verify`]): no damaged id can reach the model.
    pub fn open(&self, dir: &Path, split: Split, verify: bool) -> Result<Vec<Shard>, ShardError> {
        let names = match split {
            Split::Train => &self.train.shards,
            Split::Validation => &self.validation.shards,
        };
        names
            .iter()
            .map(|name| {
                let path: PathBuf = dir.join(name);
                let shard = Shard::open(&path, Some(self.fingerprint))?;
                if shard.header.vocab_size as usize != self.vocab_size {
                    return Err(ShardError::Invalid {
                        path,
                        message: format!(
                            "vocabulary of {} tokens, but {META_FILE} says {}",
                            shard.header.vocab_size, self.vocab_size
                        ),
                    });
                }
                if verify {
                    shard.verify()?;
                }
                Ok(shard)
            })
            .collect()
    }
}
