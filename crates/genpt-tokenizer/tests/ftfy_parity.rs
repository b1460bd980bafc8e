//! Differential test against ftfy 6.3.1's `fix_text` and the original GPT-1 pipeline on
//! adversarial web-like text: tests/fixtures/ftfy_web.jsonl.gz, made by
//! scripts/ftfy_adversarial.py (inputs) and scripts/ftfy_reference.py (ftfy's output and the
//! release's ids). Compares our `fix_text` with ftfy's string, and our ids with the release's
//! (the ids need ../shared for the vocabulary; without it only the strings are compared).

use std::io::Read;
use std::path::PathBuf;

use genpt_tokenizer::{fix_text, Tokenizer};

fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("GENPT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.is_dir().then_some(dir)
}

struct Row {
    text: String,
    fixed: String,
    ids: Vec<u32>,
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ftfy_web.jsonl.gz")
}

fn load(path: &std::path::Path) -> Vec<Row> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let input = value["text"].as_str().unwrap().to_string();
            Row {
                fixed: value
                    .get("fixed")
                    .and_then(|v| v.as_str())
                    .unwrap_or(&input)
                    .to_string(),
                text: input,
                ids: value
                    .get("ids")
                    .map_or(Vec::new(), |v| serde_json::from_value(v.clone()).unwrap()),
            }
        })
        .collect()
}

fn show(s: &str) -> String {
    format!("{:?}", s.chars().take(120).collect::<String>())
}

fn compare_fix_text(rows: &[Row]) -> usize {
    let mut exact = 0;
    let mut shown = 0;
    for row in rows {
        let got = fix_text(&row.text);
        if got == row.fixed {
            exact += 1;
        } else if shown < 10 {
            shown += 1;
            println!(
                "MISMATCH {}\n  ours: {}\n  ftfy: {}",
                show(&row.text),
                show(&got),
                show(&row.fixed)
            );
        }
    }
    let share = exact as f64 / rows.len() as f64;
    println!(
        "fix_text: {exact} of {} lines exact ({:.3}%)",
        rows.len(),
        100.0 * share
    );
    exact
}

#[test]
fn fix_text_matches_ftfy() {
    let rows = load(&fixture());
    assert!(rows.len() >= 50_000);
    assert_eq!(compare_fix_text(&rows), rows.len());
}

/// Another file made by ftfy_reference.py (e.g. other seeds, `--no-ids`), named by
/// FTFY_PARITY_FILE: for checks beyond the committed fixture.
#[test]
fn fix_text_matches_ftfy_on_extra_file() {
    let Some(path) = std::env::var_os("FTFY_PARITY_FILE") else {
        return;
    };
    let rows = load(std::path::Path::new(&path));
    assert_eq!(compare_fix_text(&rows), rows.len());
}

#[test]
fn ids_match_release() {
    let Some(shared) = shared() else {
        eprintln!("skipped: ../shared not found (set GENPT_SHARED)");
        return;
    };
    let tokenizer = Tokenizer::from_dir(&shared.join("data/gpt1-bpe")).unwrap();
    let rows = load(&fixture());
    let mut exact = 0;
    let mut shown = 0;
    for row in &rows {
        let got = tokenizer.encode(&row.text);
        if got == row.ids {
            exact += 1;
        } else if shown < 10 {
            shown += 1;
            let first = got.iter().zip(&row.ids).position(|(a, b)| a != b);
            let first = first.unwrap_or(got.len().min(row.ids.len()));
            let from = first.saturating_sub(3);
            let pieces = |ids: &[u32]| {
                tokenizer
                    .decode(&ids[from.min(ids.len())..(first + 5).min(ids.len())])
                    .split(' ')
                    .map(String::from)
                    .collect::<Vec<_>>()
            };
            println!(
                "MISMATCH at token {first}: {}\n  ours:      {:?}\n  reference: {:?}",
                show(&row.text),
                pieces(&got),
                pieces(&row.ids),
            );
        }
    }
    let share = exact as f64 / rows.len() as f64;
    println!(
        "ids: {exact} of {} lines exact ({:.3}%)",
        rows.len(),
        100.0 * share
    );
    assert_eq!(exact, rows.len());
}
