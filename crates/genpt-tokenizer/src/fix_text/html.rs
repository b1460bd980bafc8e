//! `fixes.unescape_html`: HTML entities that end in a semicolon (`HTML_ENTITY_RE =
//! &#?[0-9A-Za-z]{1,24};`), by ftfy's table of HTML5 names and upper-cased Latin ones, and
//! numeric references the way `html.unescape` reads them, kept as they are when
//! `html.unescape` would leave a semicolon behind.

use super::tables;

fn named(entity: &str) -> Option<&'static str> {
    tables::HTML_ENTITIES
        .binary_search_by(|(name, _)| name.cmp(&entity))
        .ok()
        .map(|i| tables::HTML_ENTITIES[i].1)
}

/// `html._replace_charref` for `#digits` / `#xhex` (no trailing text), in its order.
fn charref(value: u128) -> String {
    const REPLACEMENT: &str = "\u{FFFD}";
    let Ok(value) = u32::try_from(value) else {
        return REPLACEMENT.to_string();
    };
    if let Ok(i) = tables::INVALID_CHARREFS.binary_search_by_key(&value, |&(k, _)| k) {
        return tables::INVALID_CHARREFS[i].1.to_string();
    }
    if (0xD800..=0xDFFF).contains(&value) || value > 0x10FFFF {
        return REPLACEMENT.to_string();
    }
    if tables::INVALID_CODEPOINTS.binary_search(&value).is_ok() {
        return String::new();
    }
    char::from_u32(value).map(String::from).unwrap_or_default()
}

/// `_unescape_fixup` for one matched `&...;`.
fn fixup(entity: &str) -> Option<String> {
    if let Some(text) = named(entity) {
        return Some(text.to_string());
    }
    let body = entity.strip_prefix("&#")?.strip_suffix(';')?;
    // `html.unescape` must consume everything up to the semicolon, else ftfy keeps the text.
    let (digits, radix) = match body.strip_prefix(['x', 'X']) {
        Some(hex) => (hex, 16),
        None => (body, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // At most 23 digits: saturate rather than overflow, any such value is > 0x10FFFF anyway.
    let value = digits.chars().fold(0u128, |v, c| {
        v.saturating_mul(radix as u128)
            .saturating_add(c.to_digit(radix).unwrap() as u128)
    });
    let text = charref(value);
    (!text.contains(';')).then_some(text)
}

/// Length in bytes of an `HTML_ENTITY_RE` match starting at `text[0] == '&'`.
fn entity_len(text: &[u8]) -> Option<usize> {
    let mut i = 1;
    if text.get(i) == Some(&b'#') {
        i += 1;
    }
    let run = text[i..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    ((1..=24).contains(&run) && text.get(i + run) == Some(&b';')).then_some(i + run + 1)
}

pub fn unescape_html(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = text[i..].find('&') {
        let at = i + off;
        match entity_len(&bytes[at..]) {
            Some(len) => {
                let entity = &text[at..at + len];
                out.push_str(&text[copied..at]);
                match fixup(entity) {
                    Some(fixed) => out.push_str(&fixed),
                    None => out.push_str(entity),
                }
                copied = at + len;
                i = at + len;
            }
            None => i = at + 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from Python: ftfy.fixes.unescape_html (ftfy 6.3.1).
    #[test]
    fn like_ftfy() {
        assert_eq!(unescape_html("&lt;tag&gt;"), "<tag>");
        assert_eq!(unescape_html("P&EACUTE;REZ"), "PÉREZ");
        assert_eq!(unescape_html("BUNDESSTRA&SZLIG;E"), "BUNDESSTRASSE");
        assert_eq!(
            unescape_html("&ntilde; &Ntilde; &NTILDE; &nTILDE;"),
            "ñ Ñ Ñ &nTILDE;"
        );
        assert_eq!(
            unescape_html("&#59; &#x41; &#12a; &#128; &#0; &amp"),
            "&#59; A &#12a; € \u{fffd} &amp"
        );
    }
}
