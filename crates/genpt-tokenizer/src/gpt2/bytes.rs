//! GPT-2's reversible byte ↔ character map (`bytes_to_unicode` in OpenAI's `encoder.py`):
//! the 188 printable Latin-1 bytes stand for themselves, the other 68 (controls, space,
//! `\x7f`–`\xa0`, `\xad`) are shifted to U+0100.. in byte order, so every piece of a
//! byte-level vocabulary is printable text with no whitespace (the space byte is `Ġ`, U+0120).

/// The character each byte is written as.
pub fn byte_to_char() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut shifted = 0u32;
    for byte in 0..=255u8 {
        table[byte as usize] = if matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF) {
            byte as char
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).expect("U+0100..U+0143 are chars")
        };
    }
    table
}

/// The byte a character stands for, if it is one of the 256.
pub fn char_to_byte(c: char) -> Option<u8> {
    // The inverse is small enough to compute on the fly: shifted characters are U+0100 +
    // their rank among the non-printable bytes.
    let code = c as u32;
    match code {
        0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF => Some(code as u8),
        0x100..=0x143 => {
            let rank = code - 0x100;
            (0..=255u8)
                .filter(|b| !matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF))
                .nth(rank as usize)
        }
        _ => None,
    }
}

/// The bytes of a byte-level piece, or the first character that is not one of the 256.
pub fn piece_bytes(piece: &str) -> Result<Vec<u8>, char> {
    piece.chars().map(|c| char_to_byte(c).ok_or(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_is_a_bijection_with_openai_landmarks() {
        let table = byte_to_char();
        // Landmarks from encoder.json: space is Ġ, newline Ċ, tab ĉ, NUL Ā, 0xAD is Ń.
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
        assert_eq!(table[b'\t' as usize], 'ĉ');
        assert_eq!(table[0], 'Ā');
        assert_eq!(table[0xAD], 'Ń');
        for byte in 0..=255u8 {
            assert_eq!(char_to_byte(table[byte as usize]), Some(byte));
        }
        assert_eq!(char_to_byte('Ņ'), None);
        assert_eq!(char_to_byte(' '), None);
    }
}
