//! Turning generated tokens into text as they come, and stop sequences.
//!
//! A completion's text is its tokens' text joined: for GPT-1 a piece ending in `</w>` is a word
//! followed by a space (as `Tokenizer::decode` reads them, without trimming the end: a stream's
//! chunks then join to exactly the non-streamed text); for GPT-2 the token's bytes, a character
//! split between tokens being released once complete. Text that could be the start of a stop
//! sequence is held back until it is known not to be one, so a stream never shows part of one.
//!
//! GPT-1's text can also be cleaned up as transformers' `clean_up_tokenization_spaces` does
//! (" ." → ".", " n't" → "n't", ...): [`clean_up_tokenization`] on a whole text, [`CleanText`]
//! as tokens arrive (it holds back the last few characters, which a later token may still change,
//! so that a stream's chunks join to exactly the cleaned text).

use genpt_tokenizer::{Tokenizer, TokenizerKind};

/// transformers' `PreTrainedTokenizerBase.clean_up_tokenization`, in its order: each pattern's
/// spaces are removed wherever it occurs, one pattern after the other (Python's `str.replace`).
const CLEAN_UP_PATTERNS: [&str; 10] = [
    " .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're",
];

/// Which characters of `chars` the clean-up keeps: the patterns applied in order, each
/// left to right without overlaps, as chained `str.replace` calls do.
fn clean_up_keep(chars: &[char]) -> Vec<bool> {
    let mut keep = vec![true; chars.len()];
    // The characters still present, by their index in `chars`.
    let mut live: Vec<usize> = (0..chars.len()).collect();
    for pattern in CLEAN_UP_PATTERNS {
        let pattern: Vec<char> = pattern.chars().collect();
        let mut next = Vec::with_capacity(live.len());
        let mut i = 0;
        while i < live.len() {
            let matches = i + pattern.len() <= live.len()
                && pattern
                    .iter()
                    .enumerate()
                    .all(|(j, &c)| chars[live[i + j]] == c);
            if matches {
                for (j, &c) in pattern.iter().enumerate() {
                    if c == ' ' {
                        keep[live[i + j]] = false;
                    } else {
                        next.push(live[i + j]);
                    }
                }
                i += pattern.len();
            } else {
                next.push(live[i]);
                i += 1;
            }
        }
        live = next;
    }
    keep
}

/// transformers' `clean_up_tokenization` of a whole text.
pub fn clean_up_tokenization(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let keep = clean_up_keep(&chars);
    chars
        .iter()
        .zip(keep)
        .filter_map(|(&c, k)| k.then_some(c))
        .collect()
}

/// Tokens' bytes ([`piece_bytes`]) joined into one text, cleaned up when asked, with each
/// token's byte offset in it (where its first kept character lands). Without clean-up the bytes
/// are read as UTF-8 together, so a character split between tokens comes out whole.
pub fn join_pieces(pieces: &[Vec<u8>], clean_up: bool) -> (String, Vec<usize>) {
    if !clean_up {
        let text = String::from_utf8_lossy(&pieces.concat()).into_owned();
        let offsets = pieces
            .iter()
            .scan(0, |at, p| {
                let start = *at;
                *at += p.len();
                Some(start.min(text.len()))
            })
            .collect();
        return (text, offsets);
    }
    let pieces: Vec<String> = pieces
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let chars: Vec<char> = pieces.concat().chars().collect();
    let keep = clean_up_keep(&chars);
    let mut text = String::with_capacity(chars.len());
    let mut offsets = Vec::with_capacity(pieces.len());
    let mut next = 0;
    for piece in &pieces {
        offsets.push(text.len());
        for _ in piece.chars() {
            if keep[next] {
                text.push(chars[next]);
            }
            next += 1;
        }
    }
    (text, offsets)
}

/// Characters at the end of the raw text that a later token could still change: a pattern is
/// at most four characters long, and removing its space brings at most a few more together.
const CLEAN_UP_HOLD: usize = 8;

/// The clean-up applied as text arrives: [`Self::push`] returns the cleaned text that no later
/// text can change, [`Self::finish`] the rest. Their concatenation is
/// `clean_up_tokenization` of all the text pushed.
#[derive(Debug, Default)]
pub struct CleanText {
    raw: Vec<char>,
    /// Raw characters whose cleaned form has been returned.
    done: usize,
}

impl CleanText {
    pub fn push(&mut self, text: &str) -> String {
        self.raw.extend(text.chars());
        let until = self.raw.len().saturating_sub(CLEAN_UP_HOLD).max(self.done);
        self.release(until)
    }

    pub fn finish(&mut self) -> String {
        self.release(self.raw.len())
    }

    fn release(&mut self, until: usize) -> String {
        let keep = clean_up_keep(&self.raw);
        let out = (self.done..until)
            .filter(|&i| keep[i])
            .map(|i| self.raw[i])
            .collect();
        self.done = until;
        out
    }
}

/// The text of one token (lossy for a GPT-2 token holding part of a character).
pub fn piece_text(tokenizer: &Tokenizer, id: u32) -> String {
    String::from_utf8_lossy(&piece_bytes(tokenizer, id)).into_owned()
}

/// The bytes of one token.
pub fn piece_bytes(tokenizer: &Tokenizer, id: u32) -> Vec<u8> {
    if tokenizer.kind() == TokenizerKind::Gpt2ByteLevel {
        return tokenizer.decode_bytes(&[id]);
    }
    let piece = tokenizer.piece(id).unwrap_or("<unk>");
    match piece.strip_suffix("</w>") {
        Some(word) => format!("{word} ").into_bytes(),
        None => piece.as_bytes().to_vec(),
    }
}

/// What adding a token's text gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Text that can be shown now (possibly empty, while a stop's prefix is held).
    Text(String),
    /// A stop sequence appeared: the text before it that was not shown yet; generation ends.
    Stopped(String),
}

/// The completion text so far, with the part already released.
#[derive(Debug, Default)]
pub struct StopText {
    stops: Vec<String>,
    text: String,
    released: usize,
    /// The start of a character whose other bytes are still to come.
    partial: Vec<u8>,
}

impl StopText {
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            ..Self::default()
        }
    }

    pub fn push(&mut self, piece: &[u8]) -> Step {
        self.partial.extend_from_slice(piece);
        match std::str::from_utf8(&self.partial) {
            Ok(complete) => {
                self.text.push_str(complete);
                self.partial.clear();
            }
            // An incomplete character at the end: keep it for the next token.
            Err(e) if e.error_len().is_none() => {
                let complete = e.valid_up_to();
                self.text
                    .push_str(std::str::from_utf8(&self.partial[..complete]).unwrap());
                self.partial.drain(..complete);
            }
            // Bytes that are not UTF-8 at all: shown replaced, as `Tokenizer::decode` does.
            Err(_) => {
                self.text.push_str(&String::from_utf8_lossy(&self.partial));
                self.partial.clear();
            }
        }
        // The earliest stop wins; a stop cannot start inside released text, since text is
        // released only once no stop can start in it.
        let first_stop = self
            .stops
            .iter()
            .filter_map(|s| self.text[self.released..].find(s.as_str()))
            .min();
        if let Some(at) = first_stop {
            let end = self.released + at;
            let delta = self.text[self.released..end].to_string();
            self.text.truncate(end);
            self.released = end;
            return Step::Stopped(delta);
        }
        let held = self
            .stops
            .iter()
            .map(|stop| {
                (1..stop.len())
                    .rev()
                    .find(|&k| stop.is_char_boundary(k) && self.text.ends_with(&stop[..k]))
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0);
        let until = (self.text.len() - held).max(self.released);
        let delta = self.text[self.released..until].to_string();
        self.released = until;
        Step::Text(delta)
    }

    /// The held text, released when generation ends for another reason than a stop.
    pub fn finish(&mut self) -> String {
        self.text.push_str(&String::from_utf8_lossy(&self.partial));
        self.partial.clear();
        let rest = self.text[self.released..].to_string();
        self.released = self.text.len();
        rest
    }
}

/// A completion's text as its tokens arrive: GPT-1's clean-up when asked for, then the stop
/// sequences (which apply to the text the client sees).
#[derive(Debug)]
pub struct CompletionText {
    clean: Option<CleanText>,
    stop: StopText,
}

impl CompletionText {
    pub fn new(stops: Vec<String>, clean_up: bool) -> Self {
        Self {
            clean: clean_up.then(CleanText::default),
            stop: StopText::new(stops),
        }
    }

    pub fn push(&mut self, piece: &[u8]) -> Step {
        match &mut self.clean {
            None => self.stop.push(piece),
            // Clean-up is for GPT-1, whose pieces are whole characters.
            Some(clean) => {
                let cleaned = clean.push(&String::from_utf8_lossy(piece));
                self.stop.push(cleaned.as_bytes())
            }
        }
    }

    /// The text still held when generation ends: a stop sequence may still appear in it.
    pub fn finish(&mut self) -> Step {
        let mut text = String::new();
        if let Some(clean) = &mut self.clean {
            let rest = clean.finish();
            match self.stop.push(rest.as_bytes()) {
                Step::Stopped(delta) => return Step::Stopped(delta),
                Step::Text(delta) => text = delta,
            }
        }
        text.push_str(&self.stop.finish());
        Step::Text(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// transformers' `clean_up_tokenization`, transcribed as its chain of replaces.
    fn reference_clean_up(text: &str) -> String {
        text.replace(" .", ".")
            .replace(" ?", "?")
            .replace(" !", "!")
            .replace(" ,", ",")
            .replace(" ' ", "'")
            .replace(" n't", "n't")
            .replace(" 'm", "'m")
            .replace(" 's", "'s")
            .replace(" 've", "'ve")
            .replace(" 're", "'re")
    }

    #[test]
    fn clean_up_matches_transformers_whole_and_streamed() {
        let words = [
            "do", "n't", ".", ",", "'", "'s", "'m", "'ve", "'re", "?", "!", "he", "said", "n",
            "'t", "s", "ve", "\n", "re", "' '", "..", "it's",
        ];
        // A fixed pseudo-random walk over GPT-1-style word sequences ("word " pieces).
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for case in 0..2000 {
            let mut pieces = Vec::new();
            for _ in 0..(case % 17) + 1 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let w = words[(state % words.len() as u64) as usize];
                // Mostly whole words; sometimes a piece with no word end.
                pieces.push(if state.is_multiple_of(5) {
                    w.to_string()
                } else {
                    format!("{w} ")
                });
            }
            let raw: String = pieces.concat();
            let expected = reference_clean_up(&raw);
            assert_eq!(clean_up_tokenization(&raw), expected, "{raw:?}");
            let mut stream = CleanText::default();
            let mut joined: String = pieces.iter().map(|p| stream.push(p)).collect();
            joined.push_str(&stream.finish());
            assert_eq!(joined, expected, "streamed {pieces:?}");
        }
        assert_eq!(
            clean_up_tokenization("i do n't know , he said . it 's ' fine ' ! "),
            "i don't know, he said. it's'fine '! " // Python's replace chain gives this too
        );
    }

    #[test]
    fn stops_are_held_back_and_cut() {
        let mut s = StopText::new(vec!["\n\n".into(), "END".into()]);
        assert_eq!(s.push(b"hello "), Step::Text("hello ".into()));
        assert_eq!(s.push(b"E"), Step::Text(String::new()));
        assert_eq!(s.push(b"x"), Step::Text("Ex".into()));
        assert_eq!(s.push(b" EN"), Step::Text(" ".into()));
        assert_eq!(s.push(b"D more"), Step::Stopped(String::new()));
        let mut s = StopText::new(vec!["cd".into()]);
        assert_eq!(s.push(b"abc"), Step::Text("ab".into()));
        assert_eq!(s.push(b"x"), Step::Text("cx".into()));
        assert_eq!(s.push(b"y c"), Step::Text("y ".into()));
        assert_eq!(s.finish(), "c");
    }

    #[test]
    fn a_character_split_between_tokens_comes_out_whole() {
        let mut s = StopText::new(vec![]);
        let e_acute = "é".as_bytes();
        assert_eq!(s.push(&[b'a', e_acute[0]]), Step::Text("a".into()));
        assert_eq!(s.push(&e_acute[1..]), Step::Text("é".into()));
        assert_eq!(s.push(&[0xff]), Step::Text("\u{FFFD}".into()));
    }
}
