//! The parts of `ftfy.fix_text` (ftfy 6.3, default settings) that change book and web text:
//! HTML entities, mojibake (UTF-8 decoded as Windows-1252 or Latin-1), C1 controls, Latin
//! ligatures, full-width characters, curly quotes, line breaks, control characters, and NFC.
//!
//! Mojibake is repaired word by word: a word whose characters all map back to single bytes
//! (Windows-1252, else Latin-1) and whose bytes then form valid UTF-8 with at least one
//! multi-byte character is replaced by that decoding. Text that is really Latin-1 almost never
//! forms valid multi-byte UTF-8 that way ("café" → bytes `63 61 66 E9`, not UTF-8), while
//! mojibake always does ("cafÃ©" → `63 61 66 C3 A9` = "café").

use unicode_normalization::UnicodeNormalization;

/// Windows-1252 bytes 0x80–0x9F that differ from Latin-1, as Unicode.
const CP1252_HIGH: [(u8, char); 27] = [
    (0x80, '€'),
    (0x82, '‚'),
    (0x83, 'ƒ'),
    (0x84, '„'),
    (0x85, '…'),
    (0x86, '†'),
    (0x87, '‡'),
    (0x88, 'ˆ'),
    (0x89, '‰'),
    (0x8A, 'Š'),
    (0x8B, '‹'),
    (0x8C, 'Œ'),
    (0x8E, 'Ž'),
    (0x91, '‘'),
    (0x92, '’'),
    (0x93, '“'),
    (0x94, '”'),
    (0x95, '•'),
    (0x96, '–'),
    (0x97, '—'),
    (0x98, '˜'),
    (0x99, '™'),
    (0x9A, 'š'),
    (0x9B, '›'),
    (0x9C, 'œ'),
    (0x9E, 'ž'),
    (0x9F, 'Ÿ'),
];

fn to_single_byte(c: char) -> Option<u8> {
    let code = c as u32;
    if code < 0x80 || (0xA0..=0xFF).contains(&code) {
        return Some(code as u8);
    }
    if (0x80..0xA0).contains(&code) {
        return Some(code as u8); // C1 characters: Latin-1 reading of the byte
    }
    CP1252_HIGH.iter().find(|(_, ch)| *ch == c).map(|(b, _)| *b)
}

fn fix_mojibake_word(word: &str) -> Option<String> {
    if word.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> = word.chars().map(to_single_byte).collect();
    let decoded = String::from_utf8(bytes?).ok()?;
    (decoded.chars().count() < word.chars().count()).then_some(decoded)
}

fn fix_encoding(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start = 0;
    let flush = |out: &mut String, word: &str| match fix_mojibake_word(word) {
        Some(fixed) => out.push_str(&fixed),
        None => out.push_str(word),
    };
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            flush(&mut out, &text[word_start..i]);
            out.push(c);
            word_start = i + c.len_utf8();
        }
    }
    flush(&mut out, &text[word_start..]);
    out
}

/// HTML entities, as Python's `html.unescape` handles the common ones: named entities that
/// matter in prose and numeric references.
fn unescape_html(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    const NAMED: &[(&str, &str)] = &[
        ("amp", "&"),
        ("lt", "<"),
        ("gt", ">"),
        ("quot", "\""),
        ("apos", "'"),
        ("nbsp", "\u{a0}"),
        ("mdash", "—"),
        ("ndash", "–"),
        ("hellip", "…"),
        ("lsquo", "‘"),
        ("rsquo", "’"),
        ("ldquo", "“"),
        ("rdquo", "”"),
        ("eacute", "é"),
        ("egrave", "è"),
        ("aacute", "á"),
        ("agrave", "à"),
        ("ccedil", "ç"),
        ("ouml", "ö"),
        ("uuml", "ü"),
        ("auml", "ä"),
        ("szlig", "ß"),
        ("copy", "©"),
        ("reg", "®"),
        ("deg", "°"),
        ("pound", "£"),
        ("euro", "€"),
        ("times", "×"),
        ("middot", "·"),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|i| i + 1);
        let replaced = end
            .filter(|&e| rest.as_bytes().get(e) == Some(&b';'))
            .and_then(|e| {
                let name = &rest[1..e];
                let value = if let Some(num) = name.strip_prefix('#') {
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => num.parse().ok(),
                    };
                    code.and_then(char::from_u32).map(String::from)
                } else {
                    NAMED
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| v.to_string())
                };
                value.map(|v| (v, e + 1))
            });
        match replaced {
            Some((value, len)) => {
                out.push_str(&value);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_removed_control(c: char) -> bool {
    matches!(c as u32, 0x0..=0x8 | 0xB | 0xE..=0x1F | 0x7F | 0x206A..=0x206F | 0xFEFF | 0xFFF9..=0xFFFC)
}

fn fix_char(c: char, out: &mut String) {
    match c {
        // uncurl_quotes
        'ʼ' | '‘' | '’' | '‚' | '‛' => out.push('\''),
        '“' | '”' | '„' | '‟' => out.push('"'),
        // fix_latin_ligatures
        'ﬀ' => out.push_str("ff"),
        'ﬁ' => out.push_str("fi"),
        'ﬂ' => out.push_str("fl"),
        'ﬃ' => out.push_str("ffi"),
        'ﬄ' => out.push_str("ffl"),
        'ﬅ' | 'ﬆ' => out.push_str("st"),
        'Ĳ' => out.push_str("IJ"),
        'ĳ' => out.push_str("ij"),
        'ŉ' => out.push_str("ʼn"),
        // fix_character_width: full-width ASCII and the ideographic space
        '\u{FF01}'..='\u{FF5E}' => out.push(char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap()),
        '\u{3000}' => out.push(' '),
        c if is_removed_control(c) => {}
        c => out.push(c),
    }
}

/// Line breaks of every kind become `\n`.
fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

/// `ftfy.fix_text` for the purposes of the GPT-1 pipeline.
pub fn fix_text(text: &str) -> String {
    let text = if text.contains('<') {
        text.to_string()
    } else {
        unescape_html(text)
    };
    let text = fix_encoding(&text);
    let text = fix_line_breaks(&text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fix_char(c, &mut out);
    }
    if out.is_ascii() {
        out
    } else {
        out.nfc().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from ftfy 6.3.1's fix_text.
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
}
