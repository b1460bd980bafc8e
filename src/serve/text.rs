//! Turning generated tokens into text as they come, and stop sequences.
//!
//! A completion's text is its pieces joined, a piece ending in `</w>` being a word followed by a
//! space (as `Tokenizer::decode` reads them, without trimming the end: a stream's chunks then
//! join to exactly the non-streamed text). Text that could be the start of a stop sequence is
//! held back until it is known not to be one, so a stream never shows part of a stop sequence.

use genpt_tokenizer::Tokenizer;

/// The text of one generated token.
pub fn piece_text(tokenizer: &Tokenizer, id: u32) -> String {
    let piece = tokenizer.piece(id).unwrap_or("<unk>");
    match piece.strip_suffix("</w>") {
        Some(word) => format!("{word} "),
        None => piece.to_string(),
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
}

impl StopText {
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            ..Self::default()
        }
    }

    pub fn push(&mut self, piece: &str) -> Step {
        self.text.push_str(piece);
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
        assert_eq!(s.push("hello "), Step::Text("hello ".into()));
        assert_eq!(s.push("E"), Step::Text(String::new()));
        assert_eq!(s.push("x"), Step::Text("Ex".into()));
        assert_eq!(s.push(" EN"), Step::Text(" ".into()));
        assert_eq!(s.push("D more"), Step::Stopped(String::new()));
        let mut s = StopText::new(vec!["cd".into()]);
        assert_eq!(s.push("abc"), Step::Text("ab".into()));
        assert_eq!(s.push("x"), Step::Text("cx".into()));
        assert_eq!(s.push("y c"), Step::Text("y ".into()));
        assert_eq!(s.finish(), "c");
    }
}
