//! Winograd-style pronoun resolution data for the zero-shot heuristic: Definite Pronoun
//! Resolution (Rahman & Ng 2012, `*.c.txt`) and the Winograd Schema Challenge collection
//! (Levesque et al., `WSCollection.xml`, WSC273). Both become a sentence split around its
//! pronoun, two candidates and the right one, so the heuristic can substitute each candidate for
//! the pronoun and score the rest of the sentence (Trinh & Le's "partial" scoring).

/// One pronoun-resolution problem: `before` + pronoun + `after` is the sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct WinogradExample {
    pub before: String,
    pub pronoun: String,
    pub after: String,
    pub candidates: Vec<String>,
    pub answer: usize,
}

impl WinogradExample {
    /// The sentence with `candidate` in place of the pronoun, split after the candidate:
    /// (prefix, rest). A possessive pronoun (his, its, their) becomes the candidate's possessive.
    pub fn substitute(&self, candidate: usize) -> Option<(String, String)> {
        let name = self.candidates.get(candidate)?;
        let possessive = matches!(
            self.pronoun.to_lowercase().as_str(),
            "his" | "its" | "their"
        );
        let name = if possessive {
            format!("{name}'s")
        } else {
            name.clone()
        };
        Some((format!("{}{name}", self.before), self.after.clone()))
    }
}

/// The byte offset of `word`'s first whole-word occurrence in `text`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '\'';
    text.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = text[..i].chars().next_back().is_none_or(|c| !is_word(c));
        let after = text[i + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !is_word(c));
        before && after
    })
}

/// Parses DPR: 4 lines per example (sentence, pronoun, the two candidates comma-separated,
/// answer), blank lines between. The pronoun is its first whole-word occurrence in the sentence.
/// Errors name the file and line.
pub fn parse_dpr(text: &str, path: &str) -> Result<Vec<WinogradExample>, String> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .collect();
    let mut out = Vec::new();
    for block in lines.split(|(_, l)| l.is_empty()).filter(|b| !b.is_empty()) {
        let first_line = block[0].0;
        if block.len() != 4 {
            return Err(format!(
                "{path}:{first_line}: expected 4 lines (sentence, pronoun, candidates, answer), found {}",
                block.len()
            ));
        }
        let (sentence, pronoun) = (block[0].1, block[1].1);
        let candidates: Vec<String> = block[2]
            .1
            .split(',')
            .map(|c| c.trim().to_string())
            .collect();
        if candidates.len() != 2 {
            return Err(format!(
                "{path}:{}: expected two comma-separated candidates",
                block[2].0
            ));
        }
        let answer = block[3].1;
        let answer = candidates
            .iter()
            .position(|c| c.eq_ignore_ascii_case(answer))
            .ok_or_else(|| {
                format!(
                    "{path}:{}: answer {answer:?} is not one of the candidates",
                    block[3].0
                )
            })?;
        let at = find_word(sentence, pronoun).ok_or_else(|| {
            format!(
                "{path}:{}: pronoun {pronoun:?} does not occur in the sentence",
                block[1].0
            )
        })?;
        out.push(WinogradExample {
            before: sentence[..at].to_string(),
            pronoun: pronoun.to_string(),
            after: sentence[at + pronoun.len()..].to_string(),
            candidates,
            answer,
        });
    }
    Ok(out)
}

/// The text of every `<tag>…</tag>` in `xml`, entities decoded and whitespace collapsed, with
/// the 1-based line each starts on.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<(usize, &'a str)> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = xml[from..].find(&open).map(|i| from + i + open.len()) {
        let Some(end) = xml[start..].find(&close).map(|i| start + i) else {
            break;
        };
        out.push((xml[..start].matches('\n').count() + 1, &xml[start..end]));
        from = end + close.len();
    }
    out
}

fn clean(text: &str) -> String {
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses the Winograd Schema Challenge collection (`WSCollection.xml`): per `<schema>`, the
/// sentence as `<text><txt1/><pron/><txt2/></text>`, the candidates as `<answers><answer/>…`,
/// and `<correctAnswer>` as a letter (A, B, …; a trailing period is allowed). Errors name the
/// file and line.
pub fn parse_wsc_xml(xml: &str, path: &str) -> Result<Vec<WinogradExample>, String> {
    let mut out = Vec::new();
    for (line, schema) in elements(xml, "schema") {
        let at = |offset: usize| format!("{path}:{}", line + offset);
        let one = |scope: &str, tag: &str| -> Result<String, String> {
            match elements(scope, tag).as_slice() {
                [(_, text)] => Ok(clean(text)),
                found => Err(format!(
                    "{}: expected one <{tag}> in this schema, found {}",
                    at(0),
                    found.len()
                )),
            }
        };
        let text = elements(schema, "text")
            .first()
            .map(|&(_, t)| t)
            .ok_or_else(|| format!("{}: schema without <text>", at(0)))?;
        let (txt1, pronoun, txt2) = (one(text, "txt1")?, one(text, "pron")?, one(text, "txt2")?);
        let answers = elements(schema, "answers")
            .first()
            .map(|&(_, t)| t)
            .ok_or_else(|| format!("{}: schema without <answers>", at(0)))?;
        let candidates: Vec<String> = elements(answers, "answer")
            .iter()
            .map(|(_, a)| clean(a))
            .collect();
        let (correct_line, correct) = elements(schema, "correctAnswer")
            .first()
            .map(|&(l, t)| (l, clean(t)))
            .ok_or_else(|| format!("{}: schema without <correctAnswer>", at(0)))?;
        let letter = correct.trim_end_matches('.').trim();
        let answer = match letter.as_bytes() {
            [c @ b'A'..=b'Z'] => usize::from(c - b'A'),
            _ => usize::MAX,
        };
        if candidates.len() < 2 || answer >= candidates.len() {
            return Err(format!(
                "{}: correct answer {correct:?} does not name one of {} candidates",
                at(correct_line - 1),
                candidates.len()
            ));
        }
        // The pronoun sits between the two parts; a part that starts with a letter or digit is
        // a new word.
        let join = |t: &str| {
            if t.starts_with(|c: char| c.is_alphanumeric()) {
                format!(" {t}")
            } else {
                t.to_string()
            }
        };
        let before = if txt1.is_empty() {
            String::new()
        } else {
            format!("{txt1} ")
        };
        out.push(WinogradExample {
            before,
            pronoun,
            after: join(&txt2),
            candidates,
            answer,
        });
    }
    if out.is_empty() {
        return Err(format!("{path}: no <schema> elements"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpr_parsing_and_substitution() {
        let text = "The bee landed on the flower because it wanted pollen.\nit\nThe bee,the flower\nThe bee\n\nJohn hit Bill because he was angry.\nhe\nJohn, Bill\nJohn\n";
        let examples = parse_dpr(text, "x.txt").unwrap();
        assert_eq!(examples.len(), 2);
        assert_eq!(examples[0].answer, 0);
        let (prefix, rest) = examples[0].substitute(1).unwrap();
        assert_eq!(prefix, "The bee landed on the flower because the flower");
        assert_eq!(rest, " wanted pollen.");
        let bad = parse_dpr("A sentence.\nit\nx,y\nz\n", "bad.txt").unwrap_err();
        assert!(
            bad.starts_with("bad.txt:2:") || bad.starts_with("bad.txt:4:"),
            "{bad}"
        );
    }

    /// Two schemas written for this test in the collection's layout (whitespace and line breaks
    /// inside elements, an entity, "B." with a period, a possessive pronoun).
    const WSC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<collection>
<schema>
<text>
<txt1>The dog chased the cat up the tree because</txt1>
<pron> it </pron>
<txt2>was
  frightened.</txt2>
</text>
<quote><quote1></quote1><pron>it</pron><quote2>was frightened</quote2></quote>
<answers>
<answer>The dog</answer>
<answer>The cat &amp; kitten</answer>
</answers>
<correctAnswer> B. </correctAnswer>
<source>written for genpt's tests</source>
</schema>
<schema>
<text><txt1>Anna lent Maria her bike, so Maria rode</txt1><pron>her</pron><txt2>'s own way home? No:</txt2></text>
<answers><answer>Anna</answer><answer>Maria</answer></answers>
<correctAnswer>A</correctAnswer>
</schema>
</collection>
"#;

    #[test]
    fn wsc_collection_parsing_and_substitution() {
        let examples = parse_wsc_xml(WSC, "wsc.xml").unwrap();
        assert_eq!(examples.len(), 2);
        let e = &examples[0];
        assert_eq!((e.pronoun.as_str(), e.answer), ("it", 1));
        assert_eq!(e.candidates, ["The dog", "The cat & kitten"]);
        assert_eq!(
            e.substitute(0).unwrap(),
            (
                "The dog chased the cat up the tree because The dog".to_string(),
                " was frightened.".to_string()
            )
        );
        // A part that starts with punctuation attaches to the pronoun's slot.
        assert_eq!(examples[1].substitute(1).unwrap().1, "'s own way home? No:");
        assert_eq!(examples[1].answer, 0);
    }

    #[test]
    fn wsc_errors_name_the_file_and_line() {
        let bad = WSC.replace(
            "<correctAnswer>A</correctAnswer>",
            "<correctAnswer>C</correctAnswer>",
        );
        let err = parse_wsc_xml(&bad, "wsc.xml").unwrap_err();
        assert!(err.starts_with("wsc.xml:21:"), "{err}");
        let err = parse_wsc_xml("<collection></collection>", "empty.xml").unwrap_err();
        assert!(err.contains("no <schema>"), "{err}");
        let err = parse_wsc_xml(&WSC.replace("<pron>her</pron>", ""), "wsc.xml").unwrap_err();
        assert!(err.contains("<pron>"), "{err}");
    }

    #[test]
    fn possessive_pronouns_take_the_candidate_s_possessive() {
        let e = WinogradExample {
            before: "Tom gave Bob ".into(),
            pronoun: "his".into(),
            after: " book.".into(),
            candidates: vec!["Tom".into(), "Bob".into()],
            answer: 0,
        };
        assert_eq!(e.substitute(1).unwrap().0, "Tom gave Bob Bob's");
    }
}

#[cfg(test)]
mod shared_data {
    #[test]
    fn reads_the_shared_dpr_files() {
        let Some(dir) = crate::shared_dir().map(|d| d.join("data/winograd")) else {
            eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
            return;
        };
        for (file, count) in [("dpr_train.c.txt", 1316), ("dpr_test.c.txt", 564)] {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            let examples = super::parse_dpr(&text, &path.display().to_string()).unwrap();
            assert_eq!(examples.len(), count, "{file}");
            assert!(examples
                .iter()
                .all(|e| e.substitute(0).is_some() && e.substitute(1).is_some()));
        }
    }
}
