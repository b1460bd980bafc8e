//! The release's `text_standardize`, written out by hand. Its regex is a non-raw Python string,
//! so `\\+` reaches the regex engine as `\+`: runs of `+` are split, runs of backslashes are not.
//!
//! ```python
//! text = text.replace('—', '-').replace('–', '-').replace('―', '-')
//! text = text.replace('…', '...').replace('´', "'")
//! text = re.sub('''(-+|~+|!+|"+|;+|\?+|\++|,+|\)+|\(+|\\+|\/+|\*+|\[+|\]+|}+|{+|\|+|_+)''', r' \1 ', text)
//! text = re.sub('\s*\n\s*', ' \n ', text)
//! text = re.sub('[^\S\n]+', ' ', text)
//! return text.strip()
//! ```

/// Characters whose runs get a space on each side.
fn is_split_char(c: char) -> bool {
    matches!(
        c,
        '-' | '~'
            | '!'
            | '"'
            | ';'
            | '?'
            | '+'
            | ','
            | ')'
            | '('
            | '/'
            | '*'
            | '['
            | ']'
            | '}'
            | '{'
            | '|'
            | '_'
    )
}

/// Python's `str.isspace` (what `\s` matches in a `str` pattern).
fn is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1c}'..='\u{1f}')
}

pub fn text_standardize(text: &str) -> String {
    // Step 1: character replacements.
    let mut replaced = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '—' | '–' | '―' => replaced.push('-'),
            '…' => replaced.push_str("..."),
            '´' => replaced.push('\''),
            c => replaced.push(c),
        }
    }
    // Step 2: space around runs of the same split character.
    let mut spaced = String::with_capacity(replaced.len() + 16);
    let chars: Vec<char> = replaced.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_split_char(c) {
            let mut j = i;
            while j < chars.len() && chars[j] == c {
                j += 1;
            }
            spaced.push(' ');
            spaced.extend(&chars[i..j]);
            spaced.push(' ');
            i = j;
        } else {
            spaced.push(c);
            i += 1;
        }
    }
    // Steps 3 and 4: any whitespace run containing a newline becomes " \n " (one newline per
    // `\s*\n\s*` match: the run is consumed greedily, so a run holds exactly one); other runs
    // become a single space. Then strip.
    let chars: Vec<char> = spaced.chars().collect();
    let mut out = String::with_capacity(spaced.len());
    let mut i = 0;
    while i < chars.len() {
        if is_space(chars[i]) {
            let mut j = i;
            while j < chars.len() && is_space(chars[j]) {
                j += 1;
            }
            if chars[i..j].contains(&'\n') {
                out.push_str(" \n ");
            } else {
                out.push(' ');
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out.trim_matches(is_space).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed with the release's function in Python 3.11.
    #[test]
    fn matches_the_release() {
        assert_eq!(text_standardize("a--b ++c \\\\d"), "a -- b ++ c \\\\d");
        assert_eq!(text_standardize("x\n\n  y\tz"), "x \n y z");
        assert_eq!(text_standardize("em—dash…"), "em - dash...");
        assert_eq!(text_standardize("  (hi)!!  "), "( hi ) !!");
    }
}
