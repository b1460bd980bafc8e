//! Word → ids, remembered: book text repeats its words constantly, and BPE of a word costs far
//! more than a lookup. Each thread looks in a cache of its own first (no lock, no cache line
//! shared with other cores), then in the tokenizer's shared cache (a read lock), and only then
//! runs BPE. With the shared cache alone every word took its lock, and two threads encoding at
//! once, contending for that one cache line, were slower than one.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use rustc_hash::FxHashMap;

type Words = FxHashMap<Box<str>, Box<[u32]>>;

/// Entries of the shared cache before it starts over.
const SHARED_LIMIT: usize = 500_000;
/// Entries of a thread's cache before it starts over.
const LOCAL_LIMIT: usize = 200_000;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A thread's cache, for the tokenizer whose `WordCache::id` it names (a thread that moves on to
/// another tokenizer starts afresh).
struct Local {
    owner: u64,
    words: Words,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local { owner: 0, words: Words::default() });
}

/// One tokenizer's cache of word → ids.
pub struct WordCache {
    /// Unique to this cache (never reused), so a thread's cache cannot serve another tokenizer.
    id: u64,
    shared: RwLock<Words>,
}

impl Default for WordCache {
    fn default() -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shared: RwLock::new(Words::default()),
        }
    }
}

impl WordCache {
    /// Appends the ids of `word` to `ids`: from a cache, else from `encode`, which appends them
    /// (and is then remembered).
    pub fn extend(&self, word: &str, ids: &mut Vec<u32>, encode: impl FnOnce(&mut Vec<u32>)) {
        LOCAL.with_borrow_mut(|local| {
            if local.owner != self.id {
                local.owner = self.id;
                local.words.clear();
            }
            if let Some(cached) = local.words.get(word) {
                ids.extend_from_slice(cached);
                return;
            }
            let start = ids.len();
            let shared_hit = match self.shared.read().expect("cache lock").get(word) {
                Some(cached) => {
                    ids.extend_from_slice(cached);
                    true
                }
                None => false,
            };
            if !shared_hit {
                encode(ids);
                let mut shared = self.shared.write().expect("cache lock");
                if shared.len() >= SHARED_LIMIT {
                    shared.clear();
                }
                shared.insert(word.into(), ids[start..].into());
            }
            if local.words.len() >= LOCAL_LIMIT {
                local.words.clear();
            }
            local.words.insert(word.into(), ids[start..].into());
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_encoded_once_and_each_cache_serves_only_its_tokenizer() {
        let (a, b) = (WordCache::default(), WordCache::default());
        let mut calls = 0;
        let mut ids = Vec::new();
        for _ in 0..3 {
            a.extend("word", &mut ids, |ids| {
                calls += 1;
                ids.extend([1, 2]);
            });
        }
        assert_eq!((ids.as_slice(), calls), ([1, 2, 1, 2, 1, 2].as_slice(), 1));
        // Another tokenizer on the same thread: its own ids, not `a`'s.
        let mut other = Vec::new();
        b.extend("word", &mut other, |ids| ids.push(9));
        assert_eq!(other, [9]);
        // Another thread finds `a`'s word in the shared cache.
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut ids = Vec::new();
                a.extend("word", &mut ids, |_| panic!("encoded again"));
                assert_eq!(ids, [1, 2]);
            });
        });
        // Back on this thread after `b`: `a`'s entry comes from the shared cache.
        let mut again = Vec::new();
        a.extend("word", &mut again, |_| panic!("encoded again"));
        assert_eq!(again, [1, 2]);
    }
}
