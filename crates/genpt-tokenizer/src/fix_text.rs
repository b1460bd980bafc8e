//! `ftfy.fix_text` of ftfy 6.3.1 with its default settings, ported step for step.
//!
//! The text is cut into segments after each `\n` (and every 1,000,000 characters within a
//! longer line, `max_decode_length`); each segment is fixed on its own by `fix_and_explain`,
//! which repeats until nothing changes: HTML entities (unless a `<` has been seen in this or
//! an earlier segment: then the text is taken to be real HTML), mojibake repair
//! (`encoding.rs`), C1 controls, Latin ligatures, character widths, curly quotes, line breaks,
//! terminal escapes, control characters, then NFC.
//!
//! The data ftfy computes at import time (codec tables, its regexes, the entity table...) is
//! generated from ftfy itself by `scripts/gen_ftfy_tables.py` into `fix_text/tables.rs`.

mod chars;
mod encoding;
mod html;
#[rustfmt::skip]
mod tables;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

pub use encoding::{fix_encoding, is_bad};

/// `TextFixerConfig.max_decode_length`, in characters.
const MAX_DECODE_LENGTH: usize = 1_000_000;

/// Plain text that no step can change: printable ASCII plus tab, line feed and form feed,
/// without `&` when entities are being decoded. (`\r` and the other C0 controls are changed by
/// `fix_line_breaks` and `remove_control_chars`.) Book text is mostly this.
fn is_untouchable(segment: &str, unescape: bool) -> bool {
    segment
        .bytes()
        .all(|b| matches!(b, b' '..=b'~' | b'\t' | b'\n' | b'\x0c') && !(unescape && b == b'&'))
}

fn unassigned_in_python(c: char) -> bool {
    let c = c as u32;
    let table = &tables::PYTHON_UNASSIGNED;
    let i = table.partition_point(|&(_, hi)| hi < c);
    table.get(i).is_some_and(|&(lo, _)| lo <= c)
}

/// `unicodedata.normalize("NFC")` as ftfy's Python has it. Characters newer than Python's
/// Unicode version are starters that never combine there, so the text is normalized in pieces
/// between them. (Text that is NFC under Rust's newer tables is NFC under older ones too.)
fn nfc(text: String) -> String {
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if unassigned_in_python(c) {
            out.extend(text[start..i].nfc());
            out.push(c);
            start = i + c.len_utf8();
        }
    }
    out.extend(text[start..].nfc());
    out
}

/// One pass of the fixers of `fix_and_explain`, in ftfy's order.
fn fix_once(text: &str, unescape: bool) -> String {
    let mut text = if unescape && text.contains('&') {
        html::unescape_html(text)
    } else {
        text.to_string()
    };
    if !text.is_ascii() {
        text = fix_encoding(&text);
        if text.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)) {
            text = encoding::fix_c1_controls(&text);
        }
        text = chars::ligatures_width_quotes(&text);
    }
    if chars::has_line_break_to_fix(&text) {
        text = chars::fix_line_breaks(&text);
    }
    if text.contains('\x1b') {
        text = chars::remove_terminal_escapes(&text);
    }
    if text.chars().any(chars::is_control_to_remove) {
        text = chars::remove_control_chars(&text);
    }
    nfc(text)
}

/// `ftfy.fix_and_explain` (without the explanation): fix until a fixed point.
fn fix_segment(segment: &str, unescape: bool) -> String {
    if is_untouchable(segment, unescape) {
        return segment.to_string();
    }
    let mut text = segment.to_string();
    loop {
        let fixed = fix_once(&text, unescape);
        if fixed == text {
            return text;
        }
        text = fixed;
    }
}

/// The end (byte offset) of the segment starting at `pos`: after the next `\n`, or after
/// `MAX_DECODE_LENGTH` characters, whichever comes first.
fn segment_end(text: &str, pos: usize) -> usize {
    let line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1);
    if line_end - pos <= MAX_DECODE_LENGTH {
        return line_end; // fewer bytes than the limit, so fewer characters
    }
    match text[pos..line_end].char_indices().nth(MAX_DECODE_LENGTH) {
        Some((i, _)) => pos + i,
        None => line_end,
    }
}

/// `ftfy.fix_text(text)`.
pub fn fix_text(text: &str) -> String {
    if is_untouchable(text, true) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    // unescape_html="auto": switched off for good at the first segment that contains '<'.
    let mut unescape = true;
    let mut pos = 0;
    while pos < text.len() {
        let end = segment_end(text, pos);
        let segment = &text[pos..end];
        unescape &= !segment.contains('<');
        out.push_str(&fix_segment(segment, unescape));
        pos = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values are ftfy 6.3.1's `fix_text`, observed in Python.
    #[test]
    fn matches_ftfy() {
        assert_eq!(
            fix_text("mojibake: cafÃ© doesnâ€™t"),
            "mojibake: café doesn't"
        );
        assert_eq!(fix_text("&amp; &lt;tag&gt; entities"), "& <tag> entities");
        assert_eq!(
            fix_text("ﬁne ＡＢＣ１ x\u{a0}y \u{200b} z"),
            "fine ABC1 x\u{a0}y \u{200b} z"
        );
        assert_eq!(fix_text("naïve café résumé"), "naïve café résumé");
        assert_eq!(fix_text("a\r\nb\u{0}c"), "a\nbc");
    }

    // Three Mac Roman mojibake cases that a port once got wrong, with ftfy 6.3.1's output
    // observed in Python.
    #[test]
    fn macroman_mojibake() {
        assert_eq!(
            fix_text("President Obama‚Äôs speech didn‚Äôt"),
            "President Obama's speech didn't"
        );
    }

    #[test]
    fn c1_controls_read_as_windows_1252() {
        assert_eq!(
            fix_text("\u{91}Hello,\u{92} she said \u{93}twice\u{94} \u{85} \u{96} \u{80} \u{81}"),
            "'Hello,' she said \"twice\" … – € \u{81}"
        );
    }

    #[test]
    fn latin_digraphs() {
        assert_eq!(
            fix_text("ǅemal ǈubljana ǋegoš Ǳ ǆ"),
            "Džemal Ljubljana Njegoš DZ dž"
        );
    }

    // Python's `$` lets a final newline complete ftfy's C0 80 and CESU-8 patterns, so ftfy
    // eats the newline; observed in Python.
    #[test]
    fn utf8_variants_eat_a_final_newline() {
        assert_eq!(fix_text("Ã© À\n"), "é ");
        assert_eq!(fix_text("Ã©í\u{a0}½í¸\n"), "é😊");
        assert_eq!(fix_text("í\u{a0}½í¸€\n"), "😀\n");
    }

    // Characters of Unicode 15 and 16 are unassigned in Python 3.11's Unicode 14: its NFC
    // neither composes (Kirat Rai U+1611E twice) nor reorders them; observed in Python.
    #[test]
    fn nfc_of_python_unicode_version() {
        assert_eq!(
            fix_text("\u{1611e}\u{1611e} a\u{10efd}\u{301}"),
            "\u{1611e}\u{1611e} a\u{10efd}\u{301}"
        );
        assert_eq!(fix_text("e\u{301}\u{1611e}e\u{301}"), "é\u{1611e}é");
    }

    // unescape_html="auto" stays off for the rest of the text once a line has a '<'.
    #[test]
    fn html_off_after_a_tag() {
        assert_eq!(
            fix_text("&amp; d\na<b &amp; c\n&amp; d"),
            "& d\na<b &amp; c\n&amp; d"
        );
    }
}
