//! ftfy's character-level fixers, in the order `fix_and_explain` applies them after the
//! encoding repair: `fix_latin_ligatures`, `fix_character_width`, `uncurl_quotes`,
//! `fix_line_breaks`, `remove_terminal_escapes`, `remove_control_chars`. (`fix_surrogates`
//! has nothing to do on a Rust `str`, which cannot hold surrogates, and nothing upstream of it
//! here makes them: ftfy's decoders and `html.unescape` never produce them either.)

use super::tables;

fn lookup(table: &'static [(char, &'static str)], c: char) -> Option<&'static str> {
    table
        .binary_search_by_key(&c, |&(k, _)| k)
        .ok()
        .map(|i| table[i].1)
}

fn uncurl(c: char, out: &mut String) {
    match c {
        '\u{2bc}' | '\u{2018}'..='\u{201b}' => out.push('\''),
        '\u{201c}'..='\u{201f}' => out.push('"'),
        c => out.push(c),
    }
}

fn widen_then_uncurl(c: char, out: &mut String) {
    let wide = matches!(c, '\u{3000}' | '\u{ff01}'..='\u{ffef}');
    match wide.then(|| lookup(&tables::WIDTH_MAP, c)).flatten() {
        Some(s) => s.chars().for_each(|c| uncurl(c, out)),
        None => uncurl(c, out),
    }
}

/// Ligatures, then widths, then quotes: three per-character translations, composed.
pub fn ligatures_width_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match lookup(&tables::LIGATURES, c) {
            Some(s) => s.chars().for_each(|c| widen_then_uncurl(c, &mut out)),
            None => widen_then_uncurl(c, &mut out),
        }
    }
    out
}

pub fn has_line_break_to_fix(text: &str) -> bool {
    text.contains(['\r', '\u{2028}', '\u{2029}', '\u{85}'])
}

/// `fixes.fix_line_breaks`: CRLF, CR, U+2028, U+2029 and U+0085 all become `\n`.
pub fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

fn is_decimal(c: char) -> bool {
    let c = c as u32;
    tables::DECIMAL_DIGITS
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// `fixes.remove_terminal_escapes`: `ANSI_RE = \033\[((?:\d|;)*)([a-zA-Z])`, `\d` being any
/// Unicode decimal digit.
pub fn remove_terminal_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(off) = text[search..].find("\x1b[") {
        let at = search + off;
        let params = &text[at + 2..];
        let run: usize = params
            .chars()
            .take_while(|&c| c == ';' || is_decimal(c))
            .map(char::len_utf8)
            .sum();
        if params[run..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            out.push_str(&text[copied..at]);
            copied = at + 2 + run + 1;
            search = copied;
        } else {
            search = at + 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

pub fn is_control_to_remove(c: char) -> bool {
    let c = c as u32;
    tables::CONTROL_CHARS
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// `fixes.remove_control_chars`.
pub fn remove_control_chars(text: &str) -> String {
    text.chars().filter(|&c| !is_control_to_remove(c)).collect()
}
