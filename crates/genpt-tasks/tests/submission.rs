//! GLUE submission files: header, label names and file names as the GLUE
//! server expects them (see the GLUE site's sample submission).

use genpt_tasks::*;

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

#[test]
fn file_names() {
    let want = [
        ("cola", "CoLA.tsv"),
        ("sst2", "SST-2.tsv"),
        ("mrpc", "MRPC.tsv"),
        ("stsb", "STS-B.tsv"),
        ("qqp", "QQP.tsv"),
        ("mnli", "MNLI-m.tsv"),
        ("mnli-mm", "MNLI-mm.tsv"),
        ("qnli", "QNLI.tsv"),
        ("rte", "RTE.tsv"),
        ("wnli", "WNLI.tsv"),
        ("ax", "AX.tsv"),
    ];
    for (t, f) in want {
        assert_eq!(glue_file_name(t), Some(f));
    }
    assert_eq!(glue_file_name("race"), None);
}

#[test]
fn label_names_and_floats() {
    let rte = task_spec("rte").unwrap();
    assert_eq!(
        format_predictions(&rte, &ids(2), &[Label::Class(1), Label::Class(0)]).unwrap(),
        "index\tprediction\n0\tnot_entailment\n1\tentailment\n"
    );
    let mnli = task_spec("mnli-mm").unwrap();
    assert_eq!(
        format_predictions(
            &mnli,
            &ids(3),
            &[Label::Class(0), Label::Class(1), Label::Class(2)]
        )
        .unwrap(),
        "index\tprediction\n0\tcontradiction\n1\tentailment\n2\tneutral\n"
    );
    let cola = task_spec("cola").unwrap();
    assert_eq!(
        format_predictions(&cola, &ids(1), &[Label::Class(1)]).unwrap(),
        "index\tprediction\n0\t1\n"
    );
    let stsb = task_spec("stsb").unwrap();
    assert_eq!(
        format_predictions(
            &stsb,
            &ids(3),
            &[Label::Score(3.25), Label::Score(5.7), Label::Score(-0.2)]
        )
        .unwrap(),
        "index\tprediction\n0\t3.250\n1\t5.000\n2\t0.000\n"
    );
    assert!(format_predictions(&rte, &ids(1), &[Label::Class(2)]).is_err());
    assert!(format_predictions(&rte, &ids(2), &[Label::Class(0)]).is_err());
}

#[test]
fn writes_the_file() {
    let dir = std::env::temp_dir().join(format!("genpt-tasks-sub-{}", std::process::id()));
    let p = write_glue_submission(
        &dir,
        &task_spec("qnli").unwrap(),
        &ids(1),
        &[Label::Class(0)],
    )
    .unwrap();
    assert_eq!(p, dir.join("QNLI.tsv"));
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "index\tprediction\n0\tentailment\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(write_glue_submission(&dir, &task_spec("race").unwrap(), &[], &[]).is_err());
}
