//! GPT-2's reversible byte ↔ character map (`bytes_to_unicode` in OpenAI's `encoder.py`):
//! the 188 printable Latin-1 bytes stand for themselves, the other 68 (controls, space,
//! `\x7f`–`\xa0`, `\xad`) are shifted to U+0100.. in byte order, so every piece of a
//! byte-level vocabulary is printable text with no whitespace (the space byte is `Ġ`, U+0120).

use std::sync::OnceLock;

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
    // The inverse of `byte_to_char`, built from it so the two cannot drift apart. All 256
    // characters are below U+0144.
    static INVERSE: OnceLock<[Option<u8>; 0x144]> = OnceLock::new();
    let inverse = INVERSE.get_or_init(|| {
        let mut inverse = [None; 0x144];
        for (byte, c) in byte_to_char().iter().enumerate() {
            inverse[*c as usize] = Some(byte as u8);
        }
        inverse
    });
    inverse.get(c as usize).copied().flatten()
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
