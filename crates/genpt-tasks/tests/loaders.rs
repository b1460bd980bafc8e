//! Loaders on small hand-written fixtures in the published formats (for the
//! corpora not available locally) and on deliberately broken files: every bad
//! input must come back as an error naming `file:line`, never a panic.

use genpt_tasks::shuffle::{shuffle, SplitMix64};
use genpt_tasks::storycloze::{load_csv, split_indices};
use genpt_tasks::*;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn pair(a: &str, b: &str) -> Input {
    Input::Pair(a.into(), b.into())
}

#[test]
fn mnli_matched_mismatched_train_test() {
    let train = load_task("mnli", &fixtures(), Split::Train).unwrap();
    assert_eq!(train.len(), 3);
    // The unbalanced quote is kept verbatim: GLUE TSVs are not quote-aware.
    assert_eq!(
        train.examples[0].input,
        pair("The cat sat on the \"mat.", "A cat was sitting.")
    );
    let labels: Vec<_> = train.examples.iter().map(|e| e.label).collect();
    assert_eq!(
        labels,
        vec![
            Some(Label::Class(2)),
            Some(Label::Class(1)),
            Some(Label::Class(0))
        ]
    );

    let m = load_task("mnli", &fixtures(), Split::Dev).unwrap();
    assert_eq!(m.len(), 2);
    // gold_label is the last column, not label1 (annotator 1 said "neutral" ... "contradiction" here).
    let mm = load_task("mnli-mm", &fixtures(), Split::Dev).unwrap();
    assert_eq!(mm.examples[1].label, Some(Label::Class(0)));
    assert_eq!(mm.examples[2].label, Some(Label::Class(1)));
    assert_eq!(mm.task.name, "mnli-mm");

    let t = load_task("mnli-mm", &fixtures(), Split::Test).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t.examples[1].id, "1");
    assert!(t.examples.iter().all(|e| e.label.is_none()));
    assert_eq!(
        load_task("mnli", &fixtures(), Split::Test).unwrap().len(),
        1
    );
}

#[test]
fn qqp_by_header_name() {
    let train = load_task("qqp", &fixtures(), Split::Train).unwrap();
    assert_eq!(train.len(), 3);
    assert_eq!(train.examples[1].id, "402555");
    assert_eq!(
        train.examples[1].input,
        pair(
            "How do I control my horny emotions?",
            "How do you control your horniness?"
        )
    );
    assert_eq!(train.examples[1].label, Some(Label::Class(1)));
    assert_eq!(train.task.kind, TaskKind::Similarity { regression: false });
    assert_eq!(load_task("qqp", &fixtures(), Split::Dev).unwrap().len(), 2);
    let test = load_task("qqp", &fixtures(), Split::Test).unwrap();
    // An empty question is kept (QQP has a few), the row still has all its columns.
    assert_eq!(test.examples[1].input, pair("What is two plus two?", ""));
}

#[test]
fn snli_skips_and_counts_no_majority_rows() {
    let d = load_task("snli", &fixtures(), Split::Dev).unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(d.skipped, 1);
    assert_eq!(d.examples[0].id, "1.jpg#0r1n");
    assert_eq!(
        d.examples
            .iter()
            .map(|e| e.label.unwrap().class().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 0, 1]
    );
}

#[test]
fn scitail_tsv_and_jsonl() {
    let dev = load_task("scitail", &fixtures(), Split::Dev).unwrap();
    assert_eq!(dev.len(), 2);
    assert_eq!(dev.examples[0].label, Some(Label::Class(1))); // neutral
    assert_eq!(dev.examples[1].label, Some(Label::Class(0))); // entails
    let test = load_task("scitail", &fixtures(), Split::Test).unwrap();
    assert_eq!(
        test.examples[0].input,
        pair(
            "Water freezes at zero degrees.",
            "Ice forms at 0 degrees Celsius."
        )
    );
    assert_eq!(
        test.examples.iter().map(|e| e.label).collect::<Vec<_>>(),
        vec![Some(Label::Class(0)), Some(Label::Class(1))]
    );
}

#[test]
fn race_one_example_per_question_and_levels() {
    let all = load_task("race", &fixtures(), Split::Dev).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        load_task("race-middle", &fixtures(), Split::Dev)
            .unwrap()
            .len(),
        2
    );
    let high = load_task("race-high", &fixtures(), Split::Dev).unwrap();
    assert_eq!(high.len(), 1);
    let e = &all.examples[1];
    assert_eq!(e.label, Some(Label::Class(3))); // "D"
    match &e.input {
        Input::Choices {
            context,
            question,
            choices,
        } => {
            assert!(context.starts_with("Tom studied at school"));
            assert_eq!(question, "Who helped Tom?");
            assert_eq!(choices, &["Tom", "Mary", "Ann", "Jack"]);
        }
        other => panic!("{other:?}"),
    }
    // A file with zero questions contributes nothing (and is not an error).
    assert_eq!(
        load_task("race", &fixtures(), Split::Train).unwrap().len(),
        1
    );
    assert!(load_task("race", &fixtures(), Split::Test).is_err()); // directory absent
}

#[test]
fn storycloze_csv_with_quoted_commas() {
    let ex = load_csv(&fixtures().join("storycloze.csv")).unwrap();
    assert_eq!(ex.len(), 2);
    assert_eq!(
        ex[0].input,
        Input::Choices {
            context: "Ann baked a cake. She used flour, eggs, and sugar. She put it in the oven. It smelled great.".into(),
            question: String::new(),
            choices: vec!["Ann ate a slice.".into(), "Ann hated cakes.".into()],
        }
    );
    assert_eq!(ex[0].label, Some(Label::Class(0)));
    assert_eq!(ex[1].label, Some(Label::Class(1)));
    assert_eq!(ex[1].id, "b2");
}

#[test]
fn splitmix64_matches_vignas_reference() {
    // First outputs of splitmix64.c seeded with 1234567 (Vigna's published test vector).
    let mut r = SplitMix64::new(1234567);
    assert_eq!(
        [r.next_u64(), r.next_u64(), r.next_u64()],
        [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423
        ]
    );
}

#[test]
fn storycloze_split_is_a_deterministic_partition() {
    let (train, dev) = split_indices(1871);
    assert_eq!((train.len(), dev.len()), (1497, 374));
    let mut all: Vec<_> = train.iter().chain(&dev).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..1871).collect::<Vec<_>>());
    // Cross-checked with an independent Python transcription of splitmix64 +
    // Fisher–Yates (j = (next_u64 * (i+1)) >> 64, seed 2018, first 1,497 → train):
    // sorted dev indices start [0, 5, 7, 8, 11, 13, 23, 25] and end [1863, 1864, 1868].
    assert_eq!(dev[..8], [0, 5, 7, 8, 11, 13, 23, 25]);
    assert_eq!(dev[dev.len() - 3..], [1863, 1864, 1868]);
    assert_eq!(split_indices(1871), (train, dev));
    let mut v: Vec<u32> = (0..10).collect();
    shuffle(&mut v, 7);
    assert_ne!(v, (0..10).collect::<Vec<_>>());
}

// ---- broken inputs ----

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("genpt-tasks-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn err_of(task: &str, dir: &Path, split: Split) -> String {
    load_task(task, dir, split).unwrap_err().to_string()
}

#[test]
fn unknown_label_names_file_and_line() {
    let t = TempDir::new("label");
    let p = t.write(
        "RTE/dev.tsv",
        "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tc\td\tcontradiction\n",
    );
    let e = err_of("rte", &t.0, Split::Dev);
    assert!(e.starts_with(&format!("{}:3:", p.display())), "{e}");
    assert!(e.contains("unknown label `contradiction`"), "{e}");
}

#[test]
fn wrong_column_count_names_file_and_line() {
    let t = TempDir::new("cols");
    let p = t.write(
        "WNLI/train.tsv",
        "index\tsentence1\tsentence2\tlabel\n0\ta\tb\t1\n\n1\tc\td\n",
    );
    let e = err_of("wnli", &t.0, Split::Train);
    assert_eq!(
        e,
        format!(
            "{}:4: expected 4 tab-separated columns, found 3",
            p.display()
        )
    );
    let p = t.write("CoLA/train.tsv", "gj04\t1\t\tok.\ngj04\t1\tnot enough\n");
    let e = err_of("cola", &t.0, Split::Train);
    assert_eq!(
        e,
        format!(
            "{}:2: expected 4 tab-separated columns, found 3",
            p.display()
        )
    );
}

#[test]
fn missing_columns_and_fields() {
    let t = TempDir::new("missing");
    t.write("SST-2/dev.tsv", "sentence\n good film\n");
    assert!(err_of("sst2", &t.0, Split::Dev).contains("header has no `label` column"));
    let p = t.write("SST-2/train.tsv", "sentence\tlabel\ngood\t1\nbad\t \n");
    assert_eq!(
        err_of("sst2", &t.0, Split::Train),
        format!("{}:3: missing field `label`", p.display())
    );
    let p = t.write(
        "STS-B/dev.tsv",
        "index\tsentence1\tsentence2\tscore\n0\ta\tb\t5.5\n",
    );
    assert!(
        err_of("stsb", &t.0, Split::Dev).starts_with(&format!("{}:2: score `5.5`", p.display()))
    );
    assert!(matches!(
        load_task("qnli", &t.0, Split::Train),
        Err(TaskError::Io { .. })
    ));
    assert!(matches!(
        load_task("nope", &t.0, Split::Train),
        Err(TaskError::UnknownTask(_))
    ));
}

#[test]
fn bad_jsonl_race_and_csv_rows() {
    let t = TempDir::new("json");
    let p = t.write(
        "snli_1.0/snli_1.0_train.jsonl",
        "{\"gold_label\": \"neutral\", \"sentence1\": \"a\", \"sentence2\": \"b\"}\n{not json\n",
    );
    assert!(
        err_of("snli", &t.0, Split::Train).starts_with(&format!("{}:2: invalid JSON", p.display()))
    );
    let p = t.write(
        "snli_1.0/snli_1.0_dev.jsonl",
        "{\"gold_label\": \"neutral\", \"sentence1\": \"a\"}\n",
    );
    assert_eq!(
        err_of("snli", &t.0, Split::Dev),
        format!("{}:1: missing field `sentence2`", p.display())
    );
    t.write(
        "RACE/dev/high/1.txt",
        r#"{"answers": ["E"], "options": [["a","b","c","d"]], "questions": ["q"], "article": "x", "id": "high1.txt"}"#,
    );
    assert!(err_of("race-high", &t.0, Split::Dev).contains("unknown answer `E`"));
    t.write("RACE/train/high/1.txt", r#"{"answers": ["A"], "options": [["a","b"]], "questions": ["q"], "article": "x", "id": "h"}"#);
    assert!(err_of("race-high", &t.0, Split::Train).contains("expected 4 options"));
    let p = t.write(
        "sc.csv",
        "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2,AnswerRightEnding\nx,a,b,c,d,e,f,1\ny,a,b,c,d,e,f,3\n",
    );
    let e = load_csv(&p).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:3: unknown label `3`", p.display())),
        "{e}"
    );
    let p = t.write("sc2.csv", "InputStoryid,InputSentence1\nx,a\n");
    assert!(load_csv(&p)
        .unwrap_err()
        .to_string()
        .contains("no `InputSentence2` column"));
}
