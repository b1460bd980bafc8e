//! Token parity with the original release's pipeline on the reference file of ../shared
//! (3,021 lines tokenized by ftfy 6.3.1 + text_standardize + spaCy 3.8.18 + BPE).

use std::path::PathBuf;

use genpt_tokenizer::Tokenizer;

fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("GENPT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.is_dir().then_some(dir)
}

#[test]
fn reference_tokenizations_match() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let tokenizer = Tokenizer::from_dir(&shared.join("data/gpt1-bpe")).unwrap();
    let text =
        std::fs::read_to_string(shared.join("data/tokenizer-reference/gpt1_reference.jsonl"))
            .unwrap();
    let (mut total, mut exact) = (0, 0);
    let mut shown = 0;
    for line in text.lines().skip(1) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let input = value["text"].as_str().unwrap();
        let want: Vec<u32> = serde_json::from_value(value["ids"].clone()).unwrap();
        let got = tokenizer.encode(input);
        total += 1;
        if got == want {
            exact += 1;
        } else if shown < 8 {
            shown += 1;
            let first = got
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(want.len()));
            let from = first.saturating_sub(3);
            println!(
                "MISMATCH at token {first}: {:?}\n  ours:      {:?}\n  reference: {:?}",
                &input.chars().take(100).collect::<String>(),
                tokenizer
                    .decode(&got[from..(first + 5).min(got.len())])
                    .split(' ')
                    .collect::<Vec<_>>(),
                tokenizer
                    .decode(&want[from..(first + 5).min(want.len())])
                    .split(' ')
                    .collect::<Vec<_>>(),
            );
        }
    }
    let share = exact as f64 / total as f64;
    println!("{exact} of {total} lines exact ({:.2}%)", 100.0 * share);
    assert!(
        share >= 0.995,
        "only {:.2}% of lines match exactly",
        100.0 * share
    );
}
