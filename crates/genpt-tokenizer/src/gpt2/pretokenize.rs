//! GPT-2's pre-tokenizer, the regex of OpenAI's `encoder.py`
//!
//! ```text
//! 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//! ```
//!
//! written out as a scanner: one pass, no backtracking engine (fancy-regex needs its slow
//! backtracking VM for the lookahead). Every character is a letter (`\p{L}`), a number
//! (`\p{N}`), whitespace (`\s`) or other; the classes come from regex-syntax's Unicode tables,
//! and a test checks them against Python's `regex` module on every code point.

use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Class {
    Other = 0,
    Letter = 1,
    Number = 2,
    Space = 3,
}

fn ranges(pattern: &str) -> Vec<(u32, u32)> {
    use regex_syntax::hir::{Class as HirClass, HirKind};
    let hir = regex_syntax::parse(pattern).expect("a valid class");
    match hir.kind() {
        HirKind::Class(HirClass::Unicode(class)) => class
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        other => unreachable!("{pattern} parsed to {other:?}"),
    }
}

/// One byte per code point (1.1 MB, built once): a lookup is then a single load.
fn table() -> &'static [Class] {
    static TABLE: OnceLock<Vec<Class>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = vec![Class::Other; 0x11_0000];
        for (pattern, class) in [
            (r"\p{L}", Class::Letter),
            (r"\p{N}", Class::Number),
            (r"\s", Class::Space),
        ] {
            for (start, end) in ranges(pattern) {
                table[start as usize..=end as usize].fill(class);
            }
        }
        table
    })
}

pub fn class(c: char) -> Class {
    table()[c as usize]
}

/// The length of a contraction suffix (`s`, `t`, `re`, `ve`, `m`, `ll`, `d`) after an
/// apostrophe. Case-sensitive, as GPT-2's regex: `'S` is not one.
fn contraction(rest: &[u8]) -> Option<usize> {
    match rest {
        [b's' | b't' | b'm' | b'd', ..] => Some(1),
        [b'r', b'e', ..] | [b'v', b'e', ..] | [b'l', b'l', ..] => Some(2),
        _ => None,
    }
}

/// Calls `emit` with each pre-token of `text`, in order; together they are `text`.
pub fn split<'a>(text: &'a str, mut emit: impl FnMut(&'a str)) {
    let table = table();
    let bytes = text.as_bytes();
    let class_at = |i: usize| -> Option<(Class, usize)> {
        // ASCII, most of most text, without decoding a char.
        match bytes.get(i) {
            None => None,
            Some(&b) if b < 0x80 => Some((table[b as usize], 1)),
            Some(_) => {
                let c = text[i..].chars().next()?;
                Some((table[c as usize], c.len_utf8()))
            }
        }
    };
    // The end of the run of `class` characters starting at `i`.
    let run_end = |mut i: usize, class: Class| {
        while let Some((k, len)) = class_at(i) {
            if k != class {
                break;
            }
            i += len;
        }
        i
    };
    let mut i = 0;
    while i < bytes.len() {
        let (k, _) = class_at(i).expect("i is on a char boundary");
        // 's|'t|'re|'ve|'m|'ll|'d come first in the alternation.
        if bytes[i] == b'\'' {
            if let Some(n) = contraction(&bytes[i + 1..]) {
                emit(&text[i..i + 1 + n]);
                i += 1 + n;
                continue;
            }
        }
        // ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
        if bytes[i] == b' ' {
            if let Some((next, _)) = class_at(i + 1).filter(|&(n, _)| n != Class::Space) {
                let end = run_end(i + 1, next);
                emit(&text[i..end]);
                i = end;
                continue;
            }
        }
        if k != Class::Space {
            let end = run_end(i, k);
            emit(&text[i..end]);
            i = end;
            continue;
        }
        // `\s+(?!\S)|\s+`: a whitespace run; if a non-space follows, the run gives up its last
        // character (which then starts the next token, e.g. " word"), unless that would
        // leave it empty.
        let end = run_end(i, Class::Space);
        let mut stop = end;
        if end < bytes.len() {
            let last = text[..end].char_indices().next_back().expect("run").0;
            if last > i {
                stop = last;
            }
        }
        emit(&text[i..stop]);
        i = stop;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        split(text, |t| out.push(t));
        out
    }

    // Expected splits worked out from the regex by hand (the fixture test checks the whole
    // pipeline against GPT2Tokenizer).
    #[test]
    fn splits_as_the_regex() {
        assert_eq!(tokens("Hello world"), ["Hello", " world"]);
        assert_eq!(tokens("I'm here'S"), ["I", "'m", " here", "'", "S"]);
        assert_eq!(tokens("a  b"), ["a", " ", " b"]);
        assert_eq!(tokens("a\n\nb  "), ["a", "\n", "\n", "b", "  "]);
        assert_eq!(tokens("x \n y"), ["x", " \n", " y"]);
        assert_eq!(tokens("3.14 !?'s"), ["3", ".", "14", " !?'", "s"]);
        assert_eq!(tokens(" 'll"), [" '", "ll"]);
        assert_eq!(tokens("\r\n\tx"), ["\r\n", "\t", "x"]);
        assert_eq!(tokens(""), Vec::<&str>::new());
    }
}
