//! `fix_text` on long runs of the characters its mojibake detectors look at: it must neither
//! panic nor go quadratic (each of these lines is 300,000 characters; a quadratic scan would
//! take minutes).

use std::time::Instant;

use genpt_tokenizer::fix_text;

#[test]
fn long_runs_of_mojibake_clues() {
    let patterns = [
        "€Â",
        "Æ",
        "Ã",
        "Ã ",
        "Â€",
        "€",
        "Ã©",
        "â€",
        "ÆÂ€",
        "Ã\u{80}",
        "í\u{a0}½",
        "\u{1b}[",
        "&#",
        "&amp;",
        "\u{301}",
        "e\u{301}",
        "ﬁ",
        "Ð¿",
        "Ã© €",
        "\u{a0}Ã",
        "\u{91}",
        "í\u{a0}½í¸",
        "\r\n",
        "\u{feff}",
    ];
    let start = Instant::now();
    for pattern in patterns {
        let line = pattern.repeat(300_000 / pattern.chars().count());
        let fixed = fix_text(&line);
        assert!(fixed.len() <= 4 * line.len());
        let twice = format!("{line}\n{line}");
        assert!(!fix_text(&twice).is_empty());
    }
    println!("{:.2} s", start.elapsed().as_secs_f64());
}
