//! The user's own task files: every kind from JSONL, CSV and TSV, and each bad input a clear
//! error naming the file and line.

use std::path::PathBuf;

use genpt_tasks::custom::{read_for, read_training};
use genpt_tasks::{Columns, CustomKind, Input, InputForm, Label, Labels, TaskKind};

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("genpt-custom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn none() -> Columns {
    Columns::default()
}

fn error(result: Result<impl std::fmt::Debug, genpt_tasks::TaskError>) -> String {
    result.expect_err("an error").to_string()
}

#[test]
fn classification_from_jsonl_with_string_labels() {
    let train = write(
        "cls.jsonl",
        "{\"text\": \"great film\", \"label\": \"pos\"}\n\n{\"text\": \"dull\", \"label\": \"neg\", \"id\": \"r2\"}\n{\"text\": \"fine\", \"label\": \"pos\"}\n",
    );
    let (info, examples) = read_training(CustomKind::Classification, &train, &none()).unwrap();
    assert_eq!(info.labels, ["neg", "pos"], "labels sorted");
    assert_eq!(info.task_kind(), TaskKind::Classification { n_classes: 2 });
    assert_eq!(info.input, InputForm::Text);
    let ids: Vec<&str> = examples.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["1", "r2", "4"], "ids default to line numbers");
    assert_eq!(examples[0].input, Input::Single("great film".into()));
    assert_eq!(examples[0].label, Some(Label::Class(1)));
    assert_eq!(examples[1].label, Some(Label::Class(0)));
}

#[test]
fn numeric_labels_sort_as_numbers() {
    let train = write("num.jsonl", "{\"text\": \"a\", \"label\": 10}\n{\"text\": \"b\", \"label\": 9}\n{\"text\": \"c\", \"label\": \"2\"}\n");
    let (info, examples) = read_training(CustomKind::Classification, &train, &none()).unwrap();
    assert_eq!(info.labels, ["2", "9", "10"]);
    assert_eq!(examples[0].label, Some(Label::Class(2)));
}

#[test]
fn csv_with_a_column_mapping_and_quotes() {
    let train = write(
        "reviews.csv",
        "review,sentiment,stars\n\"Loved it, truly\",positive,5\n\"Said \"\"meh\"\"\",negative,2\n",
    );
    let columns = Columns::parse("text=review,label=sentiment").unwrap();
    let (info, examples) = read_training(CustomKind::Classification, &train, &columns).unwrap();
    assert_eq!(examples[0].input, Input::Single("Loved it, truly".into()));
    assert_eq!(examples[1].input, Input::Single("Said \"meh\"".into()));
    assert_eq!(info.labels, ["negative", "positive"]);
    assert_eq!(
        info.columns["text"],
        ["review"],
        "the mapping is kept for later files"
    );
}

#[test]
fn every_kind_reads_its_fields() {
    let ent = write("ent.tsv", "premise\thypothesis\tlabel\nA man sleeps.\tA person rests.\tyes\nIt rains.\tIt is dry.\tno\n");
    let (info, ex) = read_training(CustomKind::Entailment, &ent, &none()).unwrap();
    assert_eq!(info.task_kind(), TaskKind::Entailment { n_classes: 2 });
    assert_eq!(
        ex[0].input,
        Input::Pair("A man sleeps.".into(), "A person rests.".into())
    );

    let sim = write(
        "sim.jsonl",
        "{\"a\": \"x\", \"b\": \"y\", \"label\": 1}\n{\"a\": \"u\", \"b\": \"v\", \"label\": 0}\n",
    );
    let (info, _) = read_training(CustomKind::Similarity, &sim, &none()).unwrap();
    assert_eq!(info.task_kind(), TaskKind::Similarity { regression: false });

    let reg_pair = write("regp.csv", "a,b,score\nx,y,4.5\nu,v,0\n");
    let (info, ex) = read_training(CustomKind::Regression, &reg_pair, &none()).unwrap();
    assert_eq!(info.task_kind(), TaskKind::Similarity { regression: true });
    assert_eq!(ex[0].label, Some(Label::Score(4.5)));

    let reg_text = write(
        "regt.jsonl",
        "{\"text\": \"ok\", \"score\": 3}\n{\"text\": \"bad\", \"score\": \"-1.5\"}\n",
    );
    let (info, ex) = read_training(CustomKind::Regression, &reg_text, &none()).unwrap();
    assert_eq!(info.task_kind(), TaskKind::Classification { n_classes: 1 });
    assert_eq!(
        info.to_spec().metrics.len(),
        2,
        "scored by Pearson and Spearman"
    );
    assert_eq!(ex[1].label, Some(Label::Score(-1.5)));

    let choice = write(
        "choice.jsonl",
        "{\"context\": \"Sky?\", \"question\": \"colour\", \"choices\": [\"red\", \"blue\"], \"label\": 1}\n{\"context\": \"Grass?\", \"choices\": [\"green\", \"pink\"], \"label\": \"green\"}\n",
    );
    let (info, ex) = read_training(CustomKind::Choice, &choice, &none()).unwrap();
    assert_eq!(info.task_kind(), TaskKind::MultipleChoice { n_choices: 2 });
    assert_eq!(
        ex[1].label,
        Some(Label::Class(0)),
        "a label may be the right choice's text"
    );
    assert!(matches!(&ex[1].input, Input::Choices { question, .. } if question.is_empty()));

    let choice_csv = write(
        "choice.csv",
        "story,end1,end2,right\nOnce.,It ended.,It began.,0\n",
    );
    let columns = Columns::parse("context=story,choices=end1,choices=end2,label=right").unwrap();
    let (_, ex) = read_training(CustomKind::Choice, &choice_csv, &columns).unwrap();
    assert_eq!(
        ex[0].input,
        Input::Choices {
            context: "Once.".into(),
            question: String::new(),
            choices: vec!["It ended.".into(), "It began.".into()]
        }
    );
}

#[test]
fn test_files_may_lack_labels_and_dev_labels_must_be_known() {
    let train = write(
        "t.jsonl",
        "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": \"y\"}\n",
    );
    let (info, _) = read_training(CustomKind::Classification, &train, &none()).unwrap();
    let test = write(
        "test.jsonl",
        "{\"text\": \"c\"}\n{\"text\": \"d\", \"label\": \"y\"}\n",
    );
    let ex = read_for(&info, &test, &none(), Labels::Optional).unwrap();
    assert_eq!(ex[0].label, None);
    assert_eq!(ex[1].label, Some(Label::Class(1)));
    let dev = write(
        "dev.jsonl",
        "{\"text\": \"c\", \"label\": \"x\"}\n{\"text\": \"d\", \"label\": \"z\"}\n",
    );
    let err = error(read_for(&info, &dev, &none(), Labels::Required));
    assert!(
        err.contains("dev.jsonl:2") && err.contains("`z (not seen in training)`"),
        "{err}"
    );
    let err = error(read_for(&info, &test, &none(), Labels::Required));
    assert!(err.contains("test.jsonl:1: missing field `label`"), "{err}");
}

#[test]
fn bad_inputs_name_file_and_line() {
    let kind = CustomKind::Classification;
    let cases: Vec<(CustomKind, &str, &str, &str)> = vec![
        // (kind, file name, contents, expected fragment)
        (kind, "malformed.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": \n", "malformed.jsonl:2: not a JSON object"),
        (kind, "array.jsonl", "[1, 2]\n", "array.jsonl:1: expected a JSON object"),
        (kind, "short.csv", "text,label\nfine,1\nonly one column\n", "short.csv:3: malformed row: 1 columns where the header has 2"),
        (kind, "missing.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"txt\": \"b\", \"label\": 0}\n", "missing.jsonl:2: missing field `text`"),
        (kind, "nolabel.csv", "text\nfine\n", "nolabel.csv:2: missing field `label`"),
        (kind, "empty.jsonl", "", "empty.jsonl: no rows: the file is empty"),
        (kind, "blank.csv", "text,label\n", "blank.csv: no rows: the file is empty"),
        (kind, "dupid.jsonl", "{\"id\": 7, \"text\": \"a\", \"label\": 1}\n{\"id\": \"7\", \"text\": \"b\", \"label\": 0}\n", "dupid.jsonl:2: duplicate id \"7\" (first at line 1)"),
        (kind, "onelabel.jsonl", "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": 1}\n", "a classifier needs two or more"),
        (kind, "objlabel.jsonl", "{\"text\": \"a\", \"label\": {\"x\": 1}}\n", "objlabel.jsonl:1: an object"),
        (kind, "review.xlsx", "x", "review.xlsx: unknown file type"),
        (CustomKind::Regression, "score.csv", "text,score\ngood,4\nbad,four\n", "score.csv:3: the score must be a number, found \"four\""),
        (CustomKind::Regression, "nan.jsonl", "{\"text\": \"a\", \"score\": \"NaN\"}\n", "nan.jsonl:1: the score must be a number"),
        (CustomKind::Choice, "varying.jsonl", "{\"context\": \"c\", \"choices\": [\"a\", \"b\"], \"label\": 0}\n{\"context\": \"d\", \"choices\": [\"a\", \"b\", \"c\"], \"label\": 0}\n", "varying.jsonl:2: 3 choices, but line 1 has 2"),
        (CustomKind::Choice, "badchoice.jsonl", "{\"context\": \"c\", \"choices\": [\"a\", \"b\"], \"label\": 5}\n", "badchoice.jsonl:1: label \"5\" is neither a choice index"),
        (CustomKind::Choice, "notlist.jsonl", "{\"context\": \"c\", \"choices\": \"a\", \"label\": 0}\n", "notlist.jsonl:1: `choices` must be a list"),
        (CustomKind::Similarity, "threeway.jsonl", "{\"a\": \"x\", \"b\": \"y\", \"label\": 0}\n{\"a\": \"x\", \"b\": \"y\", \"label\": 1}\n{\"a\": \"x\", \"b\": \"y\", \"label\": 2}\n", "similarity takes two labels"),
    ];
    for (kind, name, text, want) in cases {
        let path = write(name, text);
        let err = error(read_training(kind, &path, &none()));
        assert!(err.contains(want), "{name}: {err}\n  expected: {want}");
    }
    // Invalid UTF-8 is named too.
    let path = write("latin1.csv", "text,label\n");
    std::fs::write(&path, b"text,label\ncaf\xe9,1\n").unwrap();
    let err = error(read_training(kind, &path, &none()));
    assert!(err.contains("latin1.csv: not valid UTF-8"), "{err}");
    // Column mappings are checked.
    let err = Columns::parse("txt=review").unwrap_err();
    assert!(err.contains("unknown field \"txt\""), "{err}");
}
