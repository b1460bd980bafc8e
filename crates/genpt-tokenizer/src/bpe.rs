//! Byte-pair encoding of one word, as the release's `TextEncoder.bpe`: characters with `</w>`
//! on the last, then repeatedly merge the adjacent pair of lowest rank.

use std::collections::HashMap;

pub struct Bpe {
    ranks: HashMap<(String, String), u32>,
}

impl Bpe {
    pub fn new(merges: &[(String, String)]) -> Self {
        let ranks = merges
            .iter()
            .enumerate()
            .map(|(i, (a, b))| ((a.clone(), b.clone()), i as u32))
            .collect();
        Self { ranks }
    }

    /// The pieces of `word` (already lowercased), the last one ending in `</w>`.
    pub fn encode(&self, word: &str) -> Vec<String> {
        let chars: Vec<char> = word.chars().collect();
        let Some((last, init)) = chars.split_last() else {
            return Vec::new();
        };
        let mut parts: Vec<String> = init.iter().map(|c| c.to_string()).collect();
        parts.push(format!("{last}</w>"));
        // Lookup without allocating a key per probe: ranks are keyed by owned strings, so probe
        // with a reusable pair.
        let mut key = (String::new(), String::new());
        loop {
            let mut best: Option<(u32, usize)> = None;
            for i in 0..parts.len().saturating_sub(1) {
                key.0.clear();
                key.0.push_str(&parts[i]);
                key.1.clear();
                key.1.push_str(&parts[i + 1]);
                if let Some(&rank) = self.ranks.get(&key) {
                    if best.is_none_or(|(r, _)| rank < r) {
                        best = Some((rank, i));
                    }
                }
            }
            let Some((_, at)) = best else { break };
            // Merge every occurrence of that pair, left to right, as the release does.
            let (a, b) = (parts[at].clone(), parts[at + 1].clone());
            let mut merged = Vec::with_capacity(parts.len());
            let mut i = 0;
            while i < parts.len() {
                if i + 1 < parts.len() && parts[i] == a && parts[i + 1] == b {
                    merged.push(format!("{a}{b}"));
                    i += 2;
                } else {
                    merged.push(std::mem::take(&mut parts[i]));
                    i += 1;
                }
            }
            parts = merged;
            if parts.len() == 1 {
                break;
            }
        }
        // The release joins the pieces with spaces and maps "\n  </w>" (the token "\n ") to
        // "\n</w>".
        if parts.len() == 2 && parts[0] == "\n" && parts[1] == " </w>" {
            return vec!["\n</w>".into()];
        }
        parts
    }
}
