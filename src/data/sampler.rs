//! Random contiguous windows over token shards (paper, section 4.1: "contiguous text" so the
//! model learns long-range information). Draws are a pure function of (seed, stream), so a
//! run resumed at stream k sees exactly the windows it would have seen without stopping.

use super::shards::{Shard, ShardError, HEADER_BYTES};
use crate::rng::Draws;

/// Draws windows of `window` tokens, uniformly over every valid start in every shard.
pub struct WindowSampler {
    shards: Vec<Shard>,
    /// Valid starts before each shard, cumulative.
    cumulative_starts: Vec<u64>,
    window: usize,
}

impl WindowSampler {
    pub fn new(shards: Vec<Shard>, window: usize) -> Result<Self, String> {
        let mut cumulative_starts = Vec::with_capacity(shards.len());
        let mut total = 0u64;
        for shard in &shards {
            total += (shard.len() + 1).saturating_sub(window) as u64;
            cumulative_starts.push(total);
        }
        if total == 0 {
            let sizes: Vec<String> = shards
                .iter()
                .map(|s| format!("{} ({} tokens)", s.path.display(), s.len()))
                .collect();
            return Err(format!(
                "no shard holds a window of {window} tokens: {}",
                if sizes.is_empty() {
                    "no shards".to_string()
                } else {
                    sizes.join(", ")
                }
            ));
        }
        Ok(Self {
            shards,
            cumulative_starts,
            window,
        })
    }

    pub fn window(&self) -> usize {
        self.window
    }

    pub fn total_tokens(&self) -> usize {
        self.shards.iter().map(Shard::len).sum()
    }

    /// `batch` windows, row-major, drawn from `draws`. Every id is checked against its shard's
    /// vocabulary (cheap beside a training step), so that a damaged shard opened without
    /// `Shard::verify` (data.verify = false) is still an error naming it, never a backend panic.
    pub fn sample(&self, batch: usize, draws: &mut Draws) -> Result<Vec<i64>, ShardError> {
        let total = *self.cumulative_starts.last().unwrap();
        let mut out = vec![0i64; batch * self.window];
        for row in out.chunks_mut(self.window) {
            let r = draws.below(total);
            let shard = self.cumulative_starts.partition_point(|&c| c <= r);
            let before = if shard == 0 {
                0
            } else {
                self.cumulative_starts[shard - 1]
            };
            let start = (r - before) as usize;
            self.shards[shard].read(start, row);
            check_ids(&self.shards[shard], start, row)?;
        }
        Ok(out)
    }

    /// Consecutive non-overlapping windows from the start, at most `max_windows`: a fixed
    /// evaluation set.
    pub fn sequential(&self, max_windows: usize) -> Result<Vec<Vec<i64>>, ShardError> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let mut start = 0;
            while start + self.window <= shard.len() && out.len() < max_windows {
                let mut row = vec![0i64; self.window];
                shard.read(start, &mut row);
                check_ids(shard, start, &row)?;
                out.push(row);
                start += self.window;
            }
        }
        Ok(out)
    }
}

/// The first id of `row` (read from `shard` at token `start`) outside the shard's vocabulary,
/// as an error naming the shard and the byte offset.
fn check_ids(shard: &Shard, start: usize, row: &[i64]) -> Result<(), ShardError> {
    let vocab = shard.header.vocab_size as i64;
    match row.iter().position(|&id| id >= vocab) {
        None => Ok(()),
        Some(i) => Err(ShardError::Invalid {
            path: shard.path.clone(),
            message: format!(
                "damaged: token {} (byte offset {}) is id {}, outside the vocabulary of {vocab}; \
                 run `genpt prepare` again",
                start + i,
                HEADER_BYTES + (start + i) * shard.header.token_bytes as usize,
                row[i]
            ),
        }),
    }
}
