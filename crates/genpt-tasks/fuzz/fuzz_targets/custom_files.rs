//! Your own task files (`--task custom --kind K`): JSONL, CSV and TSV of every kind, with and
//! without a `--columns` mapping, read as a training file and then as a dev file of the task it
//! defines. Errors (which name the file and line) are fine; panics, aborts and unbounded
//! allocations are not.
//!
//! Input layout: byte 0 = the kind (classification, entailment, similarity, regression,
//! choice), byte 1 = the format (jsonl, csv, tsv) and bit 2 = a columns mapping, then the
//! file's bytes.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use genpt_tasks::custom::{read_for, read_training};
use genpt_tasks::{Columns, CustomKind, Labels};
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("genpt-fuzz-custom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let kind = [
        CustomKind::Classification,
        CustomKind::Entailment,
        CustomKind::Similarity,
        CustomKind::Regression,
        CustomKind::Choice,
    ][data[0] as usize % 5];
    let extension = ["jsonl", "csv", "tsv"][(data[1] & 3) as usize % 3];
    let columns = if data[1] & 4 != 0 {
        Columns::parse("text=sentence,label=tag,choices=c0,choices=c1,context=story").unwrap()
    } else {
        Columns::default()
    };
    let path = scratch().join(format!("train.{extension}"));
    std::fs::write(&path, &data[2..]).unwrap();
    if let Ok((info, examples)) = read_training(kind, &path, &columns) {
        assert!(!examples.is_empty(), "a training file that loads has examples");
        let _ = read_for(&info, &path, &columns, Labels::Optional);
        let _ = read_for(&info, &path, &columns, Labels::Required);
    }
});
