//! TensorBoard event files of pre-training and fine-tuning runs, read back by TensorBoard's own
//! reader (`EventAccumulator`, from a pip-installed `tensorboard`, through
//! scripts/check_tensorboard.py) and checked against each run's metrics.jsonl: every number of
//! every record at its step, once, including after a resume; the configuration as text.
//!
//! Needs a Python that imports `tensorboard` (`GENPT_PYTHON`, default `python3`; `.ci/run` makes
//! one); without it the tests skip, saying why.

mod common;

use std::path::Path;
use std::process::Command;

use common::{contains_seven, run_config, scratch, write_corpus};
use genpt::finetune::{self as ft, Prediction};

fn python() -> Option<String> {
    let python = std::env::var("GENPT_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = Command::new(&python)
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "skipped: {python} cannot import tensorboard; `pip install tensorboard` and point \
             GENPT_PYTHON at that Python"
        );
        return None;
    }
    Some(python)
}

/// The reader's verdict on `run`: Ok(its summary) or Err(the first mismatch).
fn check(python: &str, run: &Path) -> Result<serde_json::Value, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check_tensorboard.py");
    let out = Command::new(python).arg(script).arg(run).output().unwrap();
    match out.status.success() {
        true => Ok(serde_json::from_slice(&out.stdout).unwrap()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

#[test]
fn pretraining_curves_match_the_metrics_across_a_resume() {
    let Some(python) = python() else { return };
    let data = scratch("tb", "data");
    write_corpus(&data);
    let out = scratch("tb", "pretrain");
    let config = run_config(&data, &out, "tiny", &[]);
    // Stopped after update 3 (its last checkpoint is update 2), then resumed: update 3 runs
    // twice, and must appear once.
    genpt::pretrain::pretrain(&config, false, Some(3)).unwrap();
    let checkpoints = out.join("checkpoints");
    std::fs::remove_dir_all(checkpoints.join("step-00000003")).unwrap();
    genpt::pretrain::pretrain(&config, true, None).unwrap();
    let summary = check(&python, &out).unwrap();
    // loss, lr, grad_norm, tokens_per_s, tokens at 8 updates; val_loss, val_ppl and val_bpb at
    // 4 and 8.
    assert_eq!(summary["points"], 5 * 8 + 3 * 2, "{summary}");
    // Bits per byte from the loss in nats per token, at the corpus' 3 bytes per token.
    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let validations: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r.get("val_loss").is_some())
        .collect();
    assert_eq!(validations.len(), 2);
    for r in validations {
        let (loss, bpb) = (
            r["val_loss"].as_f64().unwrap(),
            r["val_bpb"].as_f64().unwrap(),
        );
        assert!((bpb - loss / 2f64.ln() / 3.0).abs() < 1e-12, "{r}");
    }

    // Negative control: an event file that repeats the resumed update (as appending to the
    // old file would) is caught.
    let tb = out.join("tb");
    let file = std::fs::read_dir(&tb)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut events = genpt::tensorboard::EventWriter::create(&scratch("tb", "extra")).unwrap();
    events.scalars(3, &[("loss".into(), 9.0)]).unwrap();
    let extra = std::fs::read(events.path()).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(&extra);
    std::fs::write(&file, bytes).unwrap();
    let err = check(&python, &out).unwrap_err();
    assert!(err.contains("loss"), "{err}");
}

#[test]
fn fine_tuning_curves_and_dev_metrics_match_the_metrics() {
    let Some(python) = python() else { return };
    let device = genpt::device::device("flex").unwrap().autodiff();
    let vocab = 32;
    let mut gpt_config = genpt::GptConfig::preset("tiny").unwrap();
    (gpt_config.vocab_size, gpt_config.n_positions) = (vocab, 16);
    (gpt_config.n_layer, gpt_config.n_embd, gpt_config.n_head) = (1, 16, 2);
    let model = genpt::rng::seeded(&device, 3, || {
        let gpt =
            genpt::surgery::add_special_rows(genpt::Gpt::new(&gpt_config, &device), 3, 1, &device);
        ft::classifier::new_classifier(gpt, ft::Pooling::Single, 2, 0.1, &device)
    });
    let (train, dev) = (contains_seven(64, 1, vocab), contains_seven(32, 2, vocab));
    let config = ft::FinetuneConfig {
        lr: 3e-3,
        batch_size: 16,
        micro_batch: 8,
        epochs: 2,
        ..ft::FinetuneConfig::default()
    };
    let out = scratch("tb", "finetune");
    let accuracy = |p: &[Prediction]| {
        let right = p
            .iter()
            .zip(&dev)
            .filter(|(p, e)| match (p, e.target) {
                (Prediction::Class { index, .. }, Some(ft::Target::Class(c))) => *index == c,
                _ => false,
            })
            .count();
        let acc = right as f64 / dev.len() as f64;
        (acc, serde_json::json!({ "accuracy": acc }))
    };
    let job = ft::FinetuneJob {
        train: &train,
        dev: &dev,
        config: &config,
        evaluate: &accuracy,
        attach: &|_| Ok(()),
        out: &out,
        device: &device,
    };
    ft::finetune(model, &job).unwrap();
    let summary = check(&python, &out).unwrap();
    // Per update (4 per epoch × 2): epoch, clf_loss, lm_loss, lr, grad_norm, tokens_per_s; per
    // epoch: epoch, dev/accuracy, dev_score.
    assert_eq!(summary["points"], 6 * 8 + 3 * 2, "{summary}");
}
