//! Turning generated tokens into text as they come, and stop sequences.
//!
//! A completion's text is its tokens' text joined: for GPT-1 a piece ending in `</w>` is a word
//! followed by a space (as `Tokenizer::decode` reads them, without trimming the end: a stream's
//! chunks then join to exactly the non-streamed text); for GPT-2 the token's bytes, a character
//! split between tokens being released once complete. Text that could be the start of a stop
//! sequence is held back until it is known not to be one, so a stream never shows part of one.

use genpt_tokenizer::{Tokenizer, TokenizerKind};

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

#[cfg(test)]
mod tests {
    use super::*;

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
