//! ftfy's mojibake repair: `fix_encoding` (`fix_encoding_and_explain` and its one-step
//! function in ftfy/__init__.py) with the byte-level transcoders it uses (`restore_byte_a0`,
//! `replace_lossy_sequences`), its UTF-8 decoders (strict, and ftfy's `utf-8-variants` for
//! CESU-8 and Java's C0 80), `decode_inconsistent_utf8` and `fix_c1_controls`.
//!
//! The order of attempts is ftfy's: a text that is ASCII or not "bad" is left alone; else each
//! single-byte codec that can encode it is tried in turn, and the first whose bytes decode as
//! UTF-8 wins; else embedded mojibake is fixed piecewise; else Latin-1 text with C1 controls
//! is read as Windows-1252; else the C1 controls alone are mapped.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::bytes::Regex as BytesRegex;
use regex::Regex;

use super::tables;

static BADNESS: LazyLock<Regex> = LazyLock::new(|| Regex::new(tables::BADNESS_RE).unwrap());
static UTF8_DETECTOR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(tables::UTF8_DETECTOR_RE).unwrap());
/// The same pattern anchored, to try it at one position.
static UTF8_DETECTOR_HERE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^(?:{})", tables::UTF8_DETECTOR_RE)).unwrap());
static UTF8_DETECTOR_NOT_AFTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(tables::UTF8_DETECTOR_NOT_AFTER).unwrap());
static ALTERED_UTF8: LazyLock<BytesRegex> =
    LazyLock::new(|| BytesRegex::new(tables::ALTERED_UTF8_RE).unwrap());
static LOSSY_UTF8: LazyLock<BytesRegex> =
    LazyLock::new(|| BytesRegex::new(tables::LOSSY_UTF8_RE).unwrap());

/// Encoders of `tables::CHARMAPS`: the inverse of each decode table (all 256 entries differ).
static ENCODERS: LazyLock<Vec<HashMap<char, u8>>> = LazyLock::new(|| {
    tables::CHARMAPS
        .iter()
        .map(|(_, table)| {
            table
                .iter()
                .enumerate()
                .map(|(b, &c)| (c, b as u8))
                .collect()
        })
        .collect()
});

/// `ftfy.badness.is_bad`: does the text contain a sequence that is very likely mojibake?
pub fn is_bad(text: &str) -> bool {
    BADNESS.is_match(text)
}

/// `text.encode(codec)`, or None where a character has no byte in it (ftfy's
/// `possible_encoding` is exactly "encodable", since its regex lists the decode table).
fn encode(text: &str, codec: usize) -> Option<Vec<u8>> {
    let encoder = &ENCODERS[codec];
    text.chars().map(|c| encoder.get(&c).copied()).collect()
}

/// `fixes.restore_byte_a0`: bytes where a space probably stood for 0xA0 (a no-break space
/// that some program turned into a plain one) get 0xA0 back. A lone "Ã " keeps its space
/// and gains the 0xA0 ("à la", not "àla"), except before Portuguese "às", "àquele"...
fn restore_byte_a0(bytes: &[u8]) -> Vec<u8> {
    // A_GRAVE_WORD_RE = b"\xc3 (?! |quele|quela|quilo|s )"
    let mut graved = Vec::with_capacity(bytes.len() + 4);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0xC3 && bytes.get(i + 1) == Some(&b' ') {
            let after = &bytes[i + 2..];
            let excluded = [&b" "[..], b"quele", b"quela", b"quilo", b"s "]
                .iter()
                .any(|p| after.starts_with(p));
            if !excluded {
                graved.extend_from_slice(b"\xc3\xa0 ");
                i += 2;
                continue;
            }
        }
        graved.push(bytes[i]);
        i += 1;
    }
    ALTERED_UTF8
        .replace_all(&graved, |m: &regex::bytes::Captures| {
            m[0].iter()
                .map(|&b| if b == b' ' { 0xA0 } else { b })
                .collect::<Vec<u8>>()
        })
        .into_owned()
}

/// `fixes.replace_lossy_sequences`: UTF-8 sequences whose lost bytes a sloppy codec wrote as
/// 0x1A (from U+FFFD), or once as '?', become the UTF-8 of U+FFFD.
fn replace_lossy_sequences(bytes: &[u8]) -> Vec<u8> {
    LOSSY_UTF8
        .replace_all(bytes, &b"\xef\xbf\xbd"[..])
        .into_owned()
}

/// Python's `$` without MULTILINE: the end, or just before a final newline.
fn at_end(bytes: &[u8], pos: usize) -> bool {
    pos == bytes.len() || (pos + 1 == bytes.len() && bytes[pos] == b'\n')
}

/// Where `utf8_variants.SPECIAL_BYTES_RE` (Java's null, CESU-8, lone surrogates) first
/// matches: a C0 before 0x80, or an ED before A0–BF, or either one at Python's `$`.
fn find_special(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find(|&i| match bytes[i] {
        0xC0 => bytes.get(i + 1) == Some(&0x80) || at_end(bytes, i + 1),
        0xED => {
            let second = bytes.get(i + 1).is_some_and(|b| (0xA0..=0xBF).contains(b))
                && (bytes.get(i + 2).is_some_and(|b| (0x80..=0xBF).contains(b))
                    || at_end(bytes, i + 2));
            second || at_end(bytes, i + 1)
        }
        _ => false,
    })
}

/// ftfy's `utf-8-variants` codec, decoding the whole input (strict errors): UTF-8, plus the
/// six-byte CESU-8 form of characters above U+FFFF and C0 80 for U+0000. Mirrors its
/// incremental decoder step by step, including where Python's `$` lets a final newline stand
/// in for a missing byte.
fn decode_utf8_variants(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(special) = find_special(bytes, pos) else {
            out.push_str(std::str::from_utf8(&bytes[pos..]).ok()?);
            break;
        };
        if special > pos {
            out.push_str(std::str::from_utf8(&bytes[pos..special]).ok()?);
            pos = special;
            continue;
        }
        let rest = &bytes[pos..];
        if rest[0] == 0xC0 {
            if rest.len() < 2 {
                return None;
            }
            out.push('\0');
            pos += 2;
            continue;
        }
        // CESU8_RE.match: ED [A0-AF] [80-BF] ED [B0-BF] ([80-BF] | $)
        let cesu = rest.len() >= 6
            && (0xA0..=0xAF).contains(&rest[1])
            && (0x80..=0xBF).contains(&rest[2])
            && rest[3] == 0xED
            && (0xB0..=0xBF).contains(&rest[4])
            && ((0x80..=0xBF).contains(&rest[5]) || at_end(bytes, pos + 5));
        if !cesu {
            return None;
        }
        let code = (((rest[1] & 0x0F) as u32) << 16)
            + (((rest[2] & 0x3F) as u32) << 10)
            + (((rest[4] & 0x0F) as u32) << 6)
            + (rest[5] & 0x3F) as u32
            + 0x10000;
        out.push(char::from_u32(code)?);
        pos += 6;
    }
    Some(out)
}

fn is_c1(c: char) -> bool {
    ('\u{80}'..='\u{9f}').contains(&c)
}

/// `fixes.fix_c1_controls`: C1 controls become their sloppy Windows-1252 characters, as Web
/// browsers read them (0x81, 0x8D, 0x8F, 0x90, 0x9D have none and stay).
pub fn fix_c1_controls(text: &str) -> String {
    let sloppy_1252 = &tables::CHARMAPS[1];
    debug_assert_eq!(sloppy_1252.0, "sloppy-windows-1252");
    text.chars()
        .map(|c| {
            if is_c1(c) {
                sloppy_1252.1[c as usize]
            } else {
                c
            }
        })
        .collect()
}

/// `fixes.decode_inconsistent_utf8`: runs that look like UTF-8 mojibake, inside text that as a
/// whole does not decode, are fixed one by one when they are "bad" on their own.
///
/// `UTF8_DETECTOR_RE` begins with a lookbehind (not after a strict continuation character),
/// which Rust's regex lacks; so, like Python's engine, this checks the lookbehind at each
/// position before trying the pattern there. (Matching first and checking after would rescan
/// long runs of clue characters once per position: quadratic.) Every match starts with a
/// non-ASCII character, so ASCII positions are skipped.
fn decode_inconsistent_utf8(text: &str) -> String {
    let not_after = |c: char| UTF8_DETECTOR_NOT_AFTER.is_match(c.encode_utf8(&mut [0; 4]));
    let total_chars = text.chars().count();
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut pos) = (0, 0);
    let mut prev: Option<char> = None;
    while let Some(c) = text[pos..].chars().next() {
        if !c.is_ascii() && !prev.is_some_and(not_after) {
            if let Some(m) = UTF8_DETECTOR_HERE.find(&text[pos..]) {
                let piece = m.as_str();
                out.push_str(&text[copied..pos]);
                if piece.chars().count() < total_chars && is_bad(piece) {
                    out.push_str(&fix_encoding(piece));
                } else {
                    out.push_str(piece);
                }
                pos += m.end();
                copied = pos;
                prev = piece.chars().next_back();
                continue;
            }
        }
        prev = Some(c);
        pos += c.len_utf8();
    }
    out.push_str(&text[copied..]);
    out
}

/// One step of `_fix_encoding_one_step_and_explain`; returns the text unchanged when there is
/// nothing more to do.
fn fix_encoding_one_step(text: &str) -> String {
    if text.is_ascii() || !is_bad(text) {
        return text.to_string();
    }
    let mut latin1_possible = false;
    for (codec, (name, _)) in tables::CHARMAPS.iter().enumerate() {
        let Some(mut bytes) = encode(text, codec) else {
            continue;
        };
        latin1_possible |= *name == "latin-1";
        // A space for 0xA0 is not guessed in MacRoman, where it would match an en dash and a
        // space.
        if *name != "macroman" && ALTERED_UTF8.is_match(&bytes) {
            bytes = restore_byte_a0(&bytes);
        }
        if name.starts_with("sloppy") {
            bytes = replace_lossy_sequences(&bytes);
        }
        let decoded = if bytes.contains(&0xED) || bytes.contains(&0xC0) {
            decode_utf8_variants(&bytes)
        } else {
            String::from_utf8(bytes).ok()
        };
        if let Some(fixed) = decoded {
            return fixed;
        }
    }
    if UTF8_DETECTOR.is_match(text) {
        let fixed = decode_inconsistent_utf8(text);
        if fixed != text {
            return fixed;
        }
    }
    // ftfy checks for "windows-1252" among the possible codecs here, a name its list never
    // has (it lists "sloppy-windows-1252"), so Latin-1 text always gets this attempt.
    if latin1_possible {
        let strict: Option<String> = text
            .chars()
            .map(|c| tables::WINDOWS_1252_STRICT[c as usize])
            .collect();
        if let Some(fixed) = strict {
            if fixed != text {
                return fixed;
            }
        }
    }
    if text.chars().any(is_c1) {
        return fix_c1_controls(text);
    }
    text.to_string()
}

/// `ftfy.fix_encoding` with default settings: repeat single steps until nothing changes.
pub fn fix_encoding(text: &str) -> String {
    let mut text = text.to_string();
    loop {
        let next = fix_encoding_one_step(&text);
        if next == text {
            return text;
        }
        text = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_variants() {
        assert_eq!(decode_utf8_variants(b"a\xc0\x80b").as_deref(), Some("a\0b"));
        assert_eq!(
            decode_utf8_variants(b"\xed\xa0\xbd\xed\xb8\x80").as_deref(),
            Some("😀")
        );
        assert_eq!(decode_utf8_variants(b"\xed\xa0\xbd"), None);
        assert_eq!(
            decode_utf8_variants(b"\xed\x9f\xbf").as_deref(),
            Some("\u{d7ff}")
        );
    }
}
