//! English word splitting as spaCy 3.8's `English()` tokenizer does it, on the rules spaCy
//! ships (prefix, suffix and infix patterns, URL matching, tokenizer exceptions), dumped into
//! `data/spacy_en.json` by `scripts/dump_spacy_rules.py`.
//!
//! The algorithm follows `spacy/tokenizer.pyx`: the text is cut at spaces (runs of other
//! whitespace become tokens of their own); each chunk is looked up in the exceptions, else
//! prefixes and suffixes are peeled off until an exception or nothing is left, and what remains
//! is split at infixes. Results are cached per chunk, as spaCy does.
//! spaCy's second pass, which re-joins exceptions that affix splitting cut up (`''`, `'em`,
//! `d.`), is reproduced within each chunk; exceptions containing spaces are not.

use std::collections::HashMap;
use std::sync::RwLock;

use fancy_regex::Regex;
use serde::Deserialize;

#[derive(Deserialize)]
struct Rules {
    prefix: String,
    suffix: String,
    infix: String,
    url: String,
    specials: HashMap<String, Vec<String>>,
}

pub struct EnglishSplitter {
    prefix: Regex,
    suffix: Regex,
    infix: Regex,
    url: Regex,
    specials: HashMap<String, Vec<String>>,
    /// Exceptions that affix splitting would cut up (they contain a prefix, suffix or infix),
    /// keyed by the pieces that cutting gives: spaCy's second pass (its "special matcher")
    /// finds such runs of adjacent tokens and replaces them with the exception's pieces.
    rejoin: HashMap<Vec<String>, Vec<String>>,
    /// Longest such run, in tokens.
    rejoin_max: usize,
    cache: RwLock<HashMap<String, Vec<String>>>,
}

/// Chunks cached at most; beyond it the cache is cleared (bounded memory on any input).
const CACHE_LIMIT: usize = 200_000;

impl EnglishSplitter {
    pub fn new() -> Self {
        let rules: Rules = serde_json::from_str(include_str!("../data/spacy_en.json"))
            .expect("bundled rules parse");
        let compile = |p: &str| Regex::new(p).expect("bundled pattern compiles");
        let mut splitter = Self {
            prefix: compile(&rules.prefix),
            suffix: compile(&rules.suffix),
            infix: compile(&rules.infix),
            url: compile(&rules.url),
            specials: rules.specials,
            rejoin: HashMap::new(),
            rejoin_max: 0,
            cache: RwLock::new(HashMap::new()),
        };
        let mut rejoin = HashMap::new();
        for (text, pieces) in &splitter.specials {
            let infix = matches!(splitter.infix.find(text), Ok(Some(_)));
            if text.contains(' ')
                || !(splitter.find_prefix(text) > 0 || splitter.find_suffix(text) > 0 || infix)
            {
                continue;
            }
            let mut cut = Vec::new();
            splitter.tokenize(text, false, &mut cut);
            if cut.len() > 1 {
                rejoin.insert(cut, pieces.clone());
            }
        }
        splitter.rejoin_max = rejoin.keys().map(Vec::len).max().unwrap_or(0);
        splitter.rejoin = rejoin;
        splitter
    }

    /// spaCy's second pass within one chunk: the longest runs of tokens that an exception's
    /// affix splitting produces are replaced by the exception's pieces.
    fn rejoin_exceptions(&self, tokens: Vec<String>) -> Vec<String> {
        if tokens.len() < 2 || self.rejoin_max < 2 {
            return tokens;
        }
        let mut out = Vec::with_capacity(tokens.len());
        let mut i = 0;
        'outer: while i < tokens.len() {
            for len in (2..=self.rejoin_max.min(tokens.len() - i)).rev() {
                if let Some(pieces) = self.rejoin.get(&tokens[i..i + len]) {
                    out.extend(pieces.iter().cloned());
                    i += len;
                    continue 'outer;
                }
            }
            out.push(tokens[i].clone());
            i += 1;
        }
        out
    }

    fn find_prefix(&self, s: &str) -> usize {
        match self.prefix.find(s) {
            Ok(Some(m)) => m.end() - m.start(),
            _ => 0,
        }
    }

    fn find_suffix(&self, s: &str) -> usize {
        match self.suffix.find(s) {
            Ok(Some(m)) => m.end() - m.start(),
            _ => 0,
        }
    }

    /// Splits `text` into tokens (spaCy's token texts, whitespace tokens included).
    pub fn split(&self, text: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        let mut in_ws = false;
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if c.is_whitespace() != in_ws {
                if start < i {
                    self.split_chunk(&text[start..i], &mut tokens);
                }
                start = if c == ' ' { i + 1 } else { i };
                in_ws = !in_ws;
            }
        }
        if start < text.len() {
            self.split_chunk(&text[start..], &mut tokens);
        }
        tokens
    }

    fn split_chunk(&self, chunk: &str, out: &mut Vec<String>) {
        if let Some(cached) = self.cache.read().expect("cache lock").get(chunk) {
            out.extend(cached.iter().cloned());
            return;
        }
        let mut tokens = Vec::new();
        self.tokenize(chunk, true, &mut tokens);
        let tokens = self.rejoin_exceptions(tokens);
        let mut cache = self.cache.write().expect("cache lock");
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(chunk.to_string(), tokens.clone());
        out.extend(tokens);
    }

    /// spaCy's `_tokenize` (affixes, exceptions, infixes); `specials` false is its
    /// `with_special_cases=False`, used to see how affix splitting cuts an exception.
    fn tokenize(&self, chunk: &str, specials: bool, out: &mut Vec<String>) {
        let special = |s: &str| if specials { self.specials.get(s) } else { None };
        if let Some(pieces) = special(chunk) {
            out.extend(pieces.iter().cloned());
            return;
        }
        // Fast path: a chunk of ASCII letters only, or of digits only, has no prefix, suffix or
        // infix in spaCy's English rules (each needs punctuation, a symbol, or letters next to
        // digits), so it is one token. Most words of prose take this path and skip the regexes.
        let bytes = chunk.as_bytes();
        if bytes.iter().all(u8::is_ascii_alphabetic) || bytes.iter().all(u8::is_ascii_digit) {
            out.push(chunk.to_string());
            return;
        }
        // And a sentence end: letters then "." after a lowercase letter, the word itself no
        // exception: spaCy's suffix rule splits off the period, the word stays whole.
        if specials {
            if let Some(word) = chunk.strip_suffix('.') {
                let w = word.as_bytes();
                if !w.is_empty()
                    && w.iter().all(u8::is_ascii_alphabetic)
                    && w[w.len() - 1].is_ascii_lowercase()
                    && !self.specials.contains_key(word)
                {
                    out.push(word.to_string());
                    out.push(".".to_string());
                    return;
                }
            }
        }
        let mut prefixes: Vec<&str> = Vec::new();
        let mut suffixes: Vec<&str> = Vec::new();
        let mut s = chunk;
        let mut last_len = 0;
        while !s.is_empty() && s.len() != last_len {
            if special(s).is_some() {
                break;
            }
            last_len = s.len();
            let pre_len = self.find_prefix(s);
            if pre_len != 0 {
                let minus_pre = &s[pre_len..];
                if !minus_pre.is_empty() && special(minus_pre).is_some() {
                    prefixes.push(&s[..pre_len]);
                    s = minus_pre;
                    break;
                }
            }
            let suf_len = self.find_suffix(&s[pre_len..]);
            if suf_len != 0 {
                let minus_suf = &s[..s.len() - suf_len];
                if !minus_suf.is_empty() && special(minus_suf).is_some() {
                    suffixes.push(&s[s.len() - suf_len..]);
                    s = minus_suf;
                    break;
                }
            }
            if pre_len != 0 && suf_len != 0 && pre_len + suf_len <= s.len() {
                prefixes.push(&s[..pre_len]);
                suffixes.push(&s[s.len() - suf_len..]);
                s = &s[pre_len..s.len() - suf_len];
            } else if pre_len != 0 {
                prefixes.push(&s[..pre_len]);
                s = &s[pre_len..];
            } else if suf_len != 0 {
                suffixes.push(&s[s.len() - suf_len..]);
                s = &s[..s.len() - suf_len];
            }
        }
        out.extend(prefixes.iter().map(|p| p.to_string()));
        if !s.is_empty() {
            if let Some(pieces) = special(s) {
                out.extend(pieces.iter().cloned());
            } else if matches!(self.url.is_match(s), Ok(true)) {
                out.push(s.to_string());
            } else {
                let mut start = 0;
                for m in self.infix.find_iter(s).flatten() {
                    if m.start() == 0 {
                        continue;
                    }
                    if m.start() != start {
                        out.push(s[start..m.start()].to_string());
                    }
                    if m.start() != m.end() {
                        out.push(s[m.start()..m.end()].to_string());
                    }
                    start = m.end();
                }
                if start < s.len() {
                    out.push(s[start..].to_string());
                }
            }
        }
        out.extend(suffixes.iter().rev().map(|p| p.to_string()));
    }
}

impl Default for EnglishSplitter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference splits from spaCy 3.8.18 `spacy.blank("en")`.
    #[test]
    fn fast_path_agrees_with_the_rules() {
        // Letters-only and digits-only chunks: what the regex path gives, checked directly.
        let s = EnglishSplitter::new();
        for word in ["hello.", "Hello.", "a.", "km."] {
            let mut slow = Vec::new();
            s.tokenize(word, false, &mut slow); // without exceptions: the regex path only
            assert_eq!(slow, [&word[..word.len() - 1], "."], "{word}");
        }
        for word in ["hello", "Hello", "HELLO", "a", "12345", "0", "km", "st"] {
            assert_eq!(s.find_prefix(word), 0, "{word}");
            assert_eq!(s.find_suffix(word), 0, "{word}");
            assert!(matches!(s.infix.find(word), Ok(None)), "{word}");
        }
    }

    #[test]
    fn matches_spacy_on_contractions_and_abbreviations() {
        let s = EnglishSplitter::new();
        assert_eq!(
            s.split("Don't you think it's 5 o'clock?"),
            ["Do", "n't", "you", "think", "it", "'s", "5", "o'clock", "?"]
        );
        assert_eq!(
            s.split("Mr. Smith vs. U.S.A."),
            ["Mr.", "Smith", "vs.", "U.S.A."]
        );
        assert_eq!(s.split("a \n b"), ["a", "\n ", "b"]);
    }
}
