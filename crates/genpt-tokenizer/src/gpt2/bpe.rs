//! Byte-level BPE of one pre-token, as `encoder.py`'s `Encoder.bpe`: start from one symbol per
//! byte, then repeatedly take the adjacent pair of lowest rank and merge all its occurrences
//! left to right. No `</w>`: a word start is marked by its leading `Ġ` instead.
//!
//! Symbols are interned strings (ids below the vocabulary size are the vocabulary's own ids),
//! so a merge is a hash lookup on two u32s. Long pre-tokens (a megabyte of letters, say) take
//! the merges in (rank, position) order off per-rank lists over a linked list, about
//! O(n log n) instead of O(n × merges applied); that gives the same result whenever a merged
//! piece only takes part in later merges, which `Bpe::new` checks (true of GPT-2's merges and
//! of any trained in order); otherwise every word takes the plain loop.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use super::bytes::byte_to_char;

/// Pre-tokens up to this many bytes take the plain loop (faster for short words).
const HEAP_FROM: usize = 64;

pub struct Bpe {
    /// The text of each symbol: the vocabulary's pieces first, then merged pieces (and bytes)
    /// that it lacks.
    symbols: Vec<String>,
    /// Ids below this are the vocabulary's.
    vocab_size: usize,
    byte_symbol: [u32; 256],
    /// (left, right) → (rank, merged symbol). A pair listed twice keeps its last rank, as
    /// Python's `dict(zip(merges, range(len(merges))))` does.
    merges: FxHashMap<u64, (u32, u32)>,
    /// Whether the heap gives the same result as the plain loop (see the module comment).
    heap_ok: bool,
}

fn key(left: u32, right: u32) -> u64 {
    ((left as u64) << 32) | right as u64
}

impl Bpe {
    /// `pieces` are the vocabulary in id order.
    pub fn new(pieces: &[String], merges: &[(String, String)]) -> Self {
        let mut symbols: Vec<String> = pieces.to_vec();
        let mut index: FxHashMap<String, u32> = FxHashMap::default();
        for (i, p) in symbols.iter().enumerate() {
            index.entry(p.clone()).or_insert(i as u32);
        }
        let mut intern = |s: String, symbols: &mut Vec<String>| -> u32 {
            *index.entry(s).or_insert_with_key(|s| {
                symbols.push(s.clone());
                symbols.len() as u32 - 1
            })
        };
        let table = byte_to_char();
        let byte_symbol = table.map(|c| intern(c.to_string(), &mut symbols));
        let mut pairs: FxHashMap<u64, (u32, u32)> = FxHashMap::default();
        for (rank, (a, b)) in merges.iter().enumerate() {
            let left = intern(a.clone(), &mut symbols);
            let right = intern(b.clone(), &mut symbols);
            let merged = intern(format!("{a}{b}"), &mut symbols);
            pairs.insert(key(left, right), (rank as u32, merged));
        }
        // The heap is exact if every pair containing a merged symbol ranks after every merge
        // that makes it: then merging at rank r never creates a pair of rank <= r.
        let mut made_at = vec![None::<u32>; symbols.len()];
        for &(rank, merged) in pairs.values() {
            let slot = &mut made_at[merged as usize];
            *slot = Some(slot.map_or(rank, |r: u32| r.max(rank)));
        }
        let heap_ok = pairs.iter().all(|(&k, &(rank, _))| {
            let (left, right) = ((k >> 32) as usize, (k & 0xffff_ffff) as usize);
            made_at[left].is_none_or(|r| r < rank) && made_at[right].is_none_or(|r| r < rank)
        });
        Self {
            symbols,
            vocab_size: pieces.len(),
            byte_symbol,
            merges: pairs,
            heap_ok,
        }
    }

    pub fn symbol(&self, id: u32) -> &str {
        &self.symbols[id as usize]
    }

    /// Whether long words take the heap (see the module comment).
    pub fn uses_heap(&self) -> bool {
        self.heap_ok
    }

    /// The symbols of one pre-token's bytes, appended to `out`.
    ///
    /// A byte whose character is not in the vocabulary (possible in small vocabularies, never
    /// in GPT-2's) is dropped before merging, as transformers 5's `GPT2Tokenizer` (the
    /// `tokenizers` BPE without an unknown token) does; transformers 4's Python tokenizer
    /// mapped it to `<|endoftext|>`, and `encoder.py` fails on it.
    pub fn encode(&self, bytes: &[u8], out: &mut Vec<u32>) {
        let word: Vec<u32> = bytes
            .iter()
            .map(|&b| self.byte_symbol[b as usize])
            .filter(|&s| (s as usize) < self.vocab_size)
            .collect();
        if self.heap_ok && word.len() > HEAP_FROM {
            self.merge_heap(word, out)
        } else {
            self.merge_loop(word, out)
        }
    }

    /// `encoder.py`'s loop, literally.
    pub fn merge_loop(&self, mut word: Vec<u32>, out: &mut Vec<u32>) {
        while word.len() > 1 {
            let mut best: Option<(u32, u32, u32, u32)> = None;
            for pair in word.windows(2) {
                if let Some(&(rank, merged)) = self.merges.get(&key(pair[0], pair[1])) {
                    if best.is_none_or(|b| rank < b.0) {
                        best = Some((rank, pair[0], pair[1], merged));
                    }
                }
            }
            let Some((_, left, right, merged)) = best else {
                break;
            };
            let (mut read, mut write) = (0, 0);
            while read < word.len() {
                if read + 1 < word.len() && word[read] == left && word[read + 1] == right {
                    word[write] = merged;
                    read += 2;
                } else {
                    word[write] = word[read];
                    read += 1;
                }
                write += 1;
            }
            word.truncate(write);
        }
        out.extend_from_slice(&word);
    }

    /// The same merges in rank order, then position order: positions wait in one list per
    /// rank (a heap holds only the distinct ranks, so it stays small and in cache), each list
    /// is taken in position order, and stale positions (a side already merged away or
    /// changed) are skipped. Merging at rank r only creates pairs of higher rank (`heap_ok`),
    /// so a list never grows while it is being taken.
    pub fn merge_heap(&self, mut sym: Vec<u32>, out: &mut Vec<u32>) {
        const NONE: u32 = u32::MAX;
        let n = sym.len();
        if n == 0 || n >= NONE as usize {
            return self.merge_loop(sym, out);
        }
        let mut next: Vec<u32> = (1..=n as u32).collect();
        next[n - 1] = NONE;
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut waiting = Waiting::default();
        for i in 0..n as u32 - 1 {
            waiting.add(self, &sym, i, i + 1);
        }
        while let Some((rank, mut positions)) = waiting.lowest() {
            positions.sort_unstable();
            for at in positions {
                let (a, r) = (at as usize, next[at as usize]);
                if !alive[a] || r == NONE {
                    continue;
                }
                match self.merges.get(&key(sym[a], sym[r as usize])) {
                    Some(&(now, merged)) if now == rank => sym[a] = merged,
                    _ => continue,
                }
                alive[r as usize] = false;
                next[a] = next[r as usize];
                // The new pairs rank above `rank`: they wait in other lists.
                if next[a] != NONE {
                    prev[next[a] as usize] = at;
                    waiting.add(self, &sym, at, next[a]);
                }
                if prev[a] != NONE {
                    waiting.add(self, &sym, prev[a], at);
                }
            }
        }
        let mut i = 0;
        while i != NONE {
            out.push(sym[i as usize]);
            i = next[i as usize];
        }
    }
}

/// Positions waiting to merge, one list per rank, for `Bpe::merge_heap`.
#[derive(Default)]
struct Waiting {
    lists: FxHashMap<u32, Vec<u32>>,
    ranks: BinaryHeap<Reverse<u32>>,
}

impl Waiting {
    /// Queues the pair at `at` (whose right neighbour is `right`) if it merges.
    fn add(&mut self, bpe: &Bpe, sym: &[u32], at: u32, right: u32) {
        let pair = key(sym[at as usize], sym[right as usize]);
        if let Some(&(rank, _)) = bpe.merges.get(&pair) {
            let ranks = &mut self.ranks;
            self.lists
                .entry(rank)
                .or_insert_with(|| {
                    ranks.push(Reverse(rank));
                    Vec::new()
                })
                .push(at);
        }
    }

    /// The lowest rank waiting and its positions.
    fn lowest(&mut self) -> Option<(u32, Vec<u32>)> {
        let Reverse(rank) = self.ranks.pop()?;
        Some((rank, self.lists.remove(&rank).unwrap_or_default()))
    }
}
