//! The benchmark loaders (`load_task`: GLUE's TSVs, SNLI's and SciTail's JSONL/TSV, RACE's
//! JSON files, Story Cloze's CSVs) on arbitrary file contents. Errors are fine; panics, aborts
//! and unbounded allocations are not.
//!
//! Input layout: byte 0 = the task (an index into `genpt_tasks::TASKS`), byte 1 = the split
//! (train, dev, test), then the file's bytes, written under every name the task's loader
//! may read for that split.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use genpt_tasks::{load_task, Split, TASKS};
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| std::env::temp_dir().join(format!("genpt-fuzz-tasks-{}", std::process::id())))
}

/// Every file the loader of `task` may read for `split`, relative to the data directory.
fn files(task: &str, split: &str) -> Vec<String> {
    let glue = |d: &str| {
        ["train.tsv", "dev.tsv", "test.tsv", "dev_matched.tsv", "dev_mismatched.tsv",
         "test_matched.tsv", "test_mismatched.tsv", "diagnostic.tsv", "AX.tsv"]
            .iter()
            .map(|f| format!("{d}/{f}"))
            .collect::<Vec<_>>()
    };
    match task {
        "cola" => glue("CoLA"),
        "sst2" => glue("SST-2"),
        "mrpc" => glue("MRPC"),
        "stsb" => glue("STS-B"),
        "qqp" => glue("QQP"),
        "mnli" | "mnli-mm" => glue("MNLI"),
        "qnli" => glue("QNLI"),
        "rte" => glue("RTE"),
        "wnli" => glue("WNLI"),
        "ax" => glue("AX"),
        "snli" => vec![format!("snli_1.0/snli_1.0_{split}.jsonl")],
        "scitail" => vec![
            format!("SciTailV1.1/tsv_format/scitail_1.0_{split}.tsv"),
            format!("SciTailV1.1/snli_format/scitail_1.0_{split}.txt"),
        ],
        t if t.starts_with("race") => vec![
            format!("RACE/{split}/middle/1.txt"),
            format!("RACE/{split}/high/2.txt"),
        ],
        _ => vec![
            "storycloze/cloze_test_val__spring2016 - cloze_test_ALL_val.csv".into(),
            "storycloze/cloze_test_test__spring2016 - cloze_test_ALL_test.csv".into(),
        ],
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let task = TASKS[data[0] as usize % TASKS.len()];
    let (split, name) = match data[1] % 3 {
        0 => (Split::Train, "train"),
        1 => (Split::Dev, "dev"),
        _ => (Split::Test, "test"),
    };
    let dir = scratch();
    let _ = std::fs::remove_dir_all(dir);
    for file in files(task, name) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &data[2..]).unwrap();
    }
    if let Ok(dataset) = load_task(task, dir, split) {
        // What loads is usable: a classifier's labels are among its classes.
        if let genpt_tasks::TaskKind::Classification { n_classes }
        | genpt_tasks::TaskKind::Entailment { n_classes } = dataset.task.kind
        {
            for e in &dataset.examples {
                if let Some(genpt_tasks::Label::Class(c)) = e.label {
                    assert!(c < n_classes, "{task}: class {c} of {n_classes}");
                }
            }
        }
    }
});
